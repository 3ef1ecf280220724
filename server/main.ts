import { existsSync } from "node:fs";
import { join } from "node:path";
import type { Kysely } from "kysely";
import { loadConfig, ConfigError, type Config } from "./config.js";
import { createApp, type App } from "./app.js";
import { openDatabase, type DatabaseHandle } from "./db/bootstrap.js";
import type { Database } from "./db/database.js";
import { migrate } from "./db/migrator.js";
import { createDb, createPool, operationsPool } from "./db/pool.js";
import { startDemo, demoSettings, type Demo, type DemoSettings } from "./demo/demo.js";
import { devSeedBanner, seedDev } from "./dev-seed.js";
import { createLogger } from "./platform/logging.js";

/** How long closing the database may take after the drain, before the process exits regardless. */
const CLOSE_GRACE_MS = 5_000;

async function main(): Promise<void> {
  let config: Config;
  let demoConfig: DemoSettings;
  try {
    config = loadConfig();
    demoConfig = demoSettings();
  } catch (err) {
    if (err instanceof ConfigError) {
      process.stderr.write(`${err.message}\n`);
      process.exit(2);
    }
    throw err;
  }
  const logger = createLogger(config.logLevel);

  // What start-up has made so far; a signal at any moment stops exactly that.
  let database: DatabaseHandle | undefined;
  let db: Kysely<Database> | undefined;
  let app: App | undefined;
  let demo: Demo | undefined;
  let stopping = false;
  let startup: Promise<void> = Promise.resolve();

  const stop = async (signal: string) => {
    if (stopping) return;
    stopping = true;
    logger.info("shutting down", { signal, in_flight: app?.server.inFlight() ?? 0 });
    // The drain ends by SHUTDOWN_TIMEOUT_MS whatever clients do; closing the pool
    // and the embedded PostgreSQL must not hang either. Past this, exit anyway
    // (the exit hook still asks the embedded PostgreSQL to stop).
    setTimeout(() => {
      logger.error("shutdown did not finish in time; exiting", { timeout_ms: config.shutdownTimeoutMs + CLOSE_GRACE_MS });
      process.exit(1);
    }, config.shutdownTimeoutMs + CLOSE_GRACE_MS).unref();
    // A signal during start-up lets the step under way finish (say, the embedded
    // PostgreSQL starting), so that what it started is stopped too.
    await startup.catch(() => undefined);
    await app?.shutdown();
    await demo?.close();
    await db?.destroy();
    await database?.release();
    logger.info("stopped");
    process.exit(0);
  };
  // Installed before anything starts: a signal that arrived while PostgreSQL was
  // starting would otherwise kill the process and orphan the cluster.
  process.on("SIGTERM", () => void stop("SIGTERM"));
  process.on("SIGINT", () => void stop("SIGINT"));
  process.on("SIGHUP", () => void stop("SIGHUP"));

  startup = (async () => {
    database = await openDatabase(config, logger);
    if (stopping) return;
    if (config.migrateOnStart) {
      const { applied } = await migrate(database.url);
      if (applied.length > 0) logger.info("migrations applied", { applied });
    }
    if (stopping) return;
    const pool = createPool({
      connectionString: database.url,
      max: config.dbPoolMax,
      statementTimeoutMs: config.dbStatementTimeoutMs,
      lockTimeoutMs: config.dbLockTimeoutMs,
      connectTimeoutMs: config.dbConnectTimeoutMs,
    });
    db = createDb(pool, {
      queryTimeoutMs: config.dbQueryTimeoutMs,
      writeConnections: config.dbWriteConnections,
      poolQueueMax: config.dbPoolQueueMax,
    });
    const operations = operationsPool(db);
    app = createApp(
      {
        db,
        logger,
        servedStateMaxBytes: config.servedStateMaxMb * 1024 * 1024,
        listenUrl: config.listenDatabaseUrl ?? database.url,
        watchKeepaliveMs: config.watchKeepaliveMs,
        // The operations connections (readiness, cancelling backends) are a pool of their own.
        pools: { main: pool, ...(operations ? { operations } : {}) },
      },
      config,
    );
    const addr = await app.listen(config.port, config.host);
    const host = addr.family === "IPv6" ? `[${addr.address}]` : addr.address;
    const baseUrl = `http://${host}:${addr.port}`;
    logger.info("listening", { url: baseUrl, port: addr.port, database: config.databaseUrl === undefined ? "embedded" : "external" });
    if (config.databaseUrl === undefined && !stopping) {
      // The console, when served: both banners say where it is; the demo's with a key to sign in with.
      const site = config.consoleEnabled ? { url: `${baseUrl}/console/`, built: existsSync(join(config.consoleDir, "index.html")) } : undefined;
      const seed = await seedDev(db);
      if (seed) process.stderr.write(devSeedBanner(seed, baseUrl, site?.url));
      // The demo of `make run` (DEMO=true): the local dev instance only, never an external database.
      if (demoConfig.enabled && !stopping) demo = await startDemo(db, { ...demoConfig, console: site }, logger);
    } else if (demoConfig.enabled) {
      logger.info("demo off: it runs on the embedded database only (DATABASE_URL is set)");
    }
  })();
  try {
    await startup;
  } catch (err) {
    // Start-up failed: release what it started before reporting.
    await demo?.close().catch(() => undefined);
    await db?.destroy().catch(() => undefined);
    await database?.release().catch(() => undefined);
    throw err;
  }
}

main().catch((err: unknown) => {
  process.stderr.write(`fatal: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
  process.exit(1);
});
