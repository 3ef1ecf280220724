import { parseArgs } from "node:util";
import { loadConfig, ConfigError } from "../config.js";
import { openDatabase } from "../db/bootstrap.js";
import { migrate } from "../db/migrator.js";
import { createDb, createPool } from "../db/pool.js";
import type { ApiKeyScope } from "../db/database.js";
import { createApiKey, revokeApiKey } from "../auth/keys.js";
import { createOrganization, createProject } from "../auth/tenants.js";
import { DomainError } from "../platform/errors.js";
import { createLogger } from "../platform/logging.js";

const USAGE = `usage: npm run admin -- <command> [args]

  create-org <slug> [--name N] [--feature toolset_staging]...
  create-project <org> <slug> [--name N]
  create-api-key <org> --scope producer|consumer [--project <slug>] [--name N]
      prints the new key alone on the last line of stdout; it is shown only once
  revoke-api-key <org> <key-name>
`;

class UsageError extends Error {}

async function run(argv: string[]): Promise<void> {
  const { values, positionals } = parseArgs({
    args: argv,
    allowPositionals: true,
    options: {
      name: { type: "string" },
      feature: { type: "string", multiple: true },
      scope: { type: "string" },
      project: { type: "string" },
      help: { type: "boolean", short: "h" },
    },
  });
  const [command, ...args] = positionals;
  if (values.help || command === undefined) {
    process.stdout.write(USAGE);
    return;
  }
  const need = (n: number) => {
    if (args.length !== n) throw new UsageError(`${command} takes ${n} argument(s), got ${args.length}`);
    return args as string[];
  };
  const config = loadConfig();
  const logger = createLogger("warn", process.stderr);
  const database = await openDatabase(config, logger);
  const pool = createPool({
    connectionString: database.url,
    max: 2,
    statementTimeoutMs: config.dbStatementTimeoutMs,
    lockTimeoutMs: config.dbLockTimeoutMs,
    connectTimeoutMs: config.dbConnectTimeoutMs,
    applicationName: "toolset-release-service:admin",
  });
  // One command at a time: no reads to keep connections for, so no write partition.
  const db = createDb(pool, { queryTimeoutMs: config.dbQueryTimeoutMs });
  try {
    if (config.migrateOnStart) await migrate(database.url);
    switch (command) {
      case "create-org": {
        const [slug] = need(1);
        const org = await createOrganization(db, { slug: slug!, name: values.name, features: values.feature });
        process.stdout.write(`created organization ${org.slug} (${org.id})\n`);
        break;
      }
      case "create-project": {
        const [org, slug] = need(2);
        const project = await createProject(db, { org: org!, slug: slug!, name: values.name });
        process.stdout.write(`created project ${project.slug} (${project.id}) in ${org}\n`);
        break;
      }
      case "create-api-key": {
        const [org] = need(1);
        if (values.scope !== "producer" && values.scope !== "consumer") throw new UsageError("--scope must be producer or consumer");
        const key = await createApiKey(db, { org: org!, scope: values.scope as ApiKeyScope, project: values.project, name: values.name });
        process.stdout.write(`created ${values.scope} key "${key.name}" (${key.id}); it is shown only once:\n${key.key}\n`);
        break;
      }
      case "revoke-api-key": {
        const [org, name] = need(2);
        await revokeApiKey(db, { org: org!, name: name! });
        process.stdout.write(`revoked key "${name}" of ${org}\n`);
        break;
      }
      default:
        throw new UsageError(`unknown command ${JSON.stringify(command)}`);
    }
  } finally {
    await db.destroy();
    await database.release();
  }
}

run(process.argv.slice(2)).catch((err: unknown) => {
  if (err instanceof UsageError || (err instanceof Error && "code" in err && String(err.code).startsWith("ERR_PARSE_ARGS"))) {
    process.stderr.write(`${err.message}\n\n${USAGE}`);
    process.exit(64);
  }
  if (err instanceof ConfigError || err instanceof DomainError) {
    process.stderr.write(`error: ${err.message}\n`);
    process.exit(1);
  }
  process.stderr.write(`fatal: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
  process.exit(1);
});
