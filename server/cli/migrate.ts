import { loadConfig, ConfigError } from "../config.js";
import { openDatabase } from "../db/bootstrap.js";
import { migrate } from "../db/migrator.js";
import { createLogger } from "../platform/logging.js";

/** `npm run migrate`: applies pending migrations to DATABASE_URL (or the embedded database). */
async function main(): Promise<void> {
  const config = loadConfig();
  const logger = createLogger(config.logLevel);
  const database = await openDatabase(config, logger);
  try {
    const { applied, skipped } = await migrate(database.url);
    logger.info("migrations", { applied, already_applied: skipped.length });
  } finally {
    await database.release();
  }
}

main().catch((err: unknown) => {
  process.stderr.write(`${err instanceof ConfigError ? err.message : err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
  process.exit(1);
});
