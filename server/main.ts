import { loadConfig, ConfigError, type Config } from "./config.js";
import { createApp } from "./app.js";
import { openDatabase } from "./db/bootstrap.js";
import { migrate } from "./db/migrator.js";
import { createDb, createPool } from "./db/pool.js";
import { devSeedBanner, seedDev } from "./dev-seed.js";
import { createLogger } from "./platform/logging.js";

async function main(): Promise<void> {
  let config: Config;
  try {
    config = loadConfig();
  } catch (err) {
    if (err instanceof ConfigError) {
      process.stderr.write(`${err.message}\n`);
      process.exit(2);
    }
    throw err;
  }
  const logger = createLogger(config.logLevel);
  const database = await openDatabase(config, logger);
  if (config.migrateOnStart) {
    const { applied } = await migrate(database.url);
    if (applied.length > 0) logger.info("migrations applied", { applied });
  }
  const pool = createPool({ connectionString: database.url, max: config.dbPoolMax, statementTimeoutMs: config.dbStatementTimeoutMs });
  const db = createDb(pool);
  const app = createApp({ db, logger, resolveCacheTools: config.resolveCacheTools }, config);
  const addr = await app.listen(config.port, config.host);
  const host = addr.family === "IPv6" ? `[${addr.address}]` : addr.address;
  const baseUrl = `http://${host}:${addr.port}`;
  logger.info("listening", { url: baseUrl, port: addr.port, database: database.embedded ? "embedded" : "external" });
  if (config.databaseUrl === undefined) {
    const seed = await seedDev(db);
    if (seed) process.stderr.write(devSeedBanner(seed, baseUrl));
  }

  let stopping = false;
  const stop = async (signal: string) => {
    if (stopping) return;
    stopping = true;
    logger.info("shutting down", { signal, in_flight: app.server.inFlight() });
    await app.shutdown();
    await db.destroy();
    await database.release();
    logger.info("stopped");
    process.exit(0);
  };
  process.on("SIGTERM", () => void stop("SIGTERM"));
  process.on("SIGINT", () => void stop("SIGINT"));
}

main().catch((err: unknown) => {
  process.stderr.write(`fatal: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
  process.exit(1);
});
