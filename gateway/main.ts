import { createGateway, type Gateway } from "./app.js";
import { GatewayConfigError, loadGatewayConfig, type GatewayConfig } from "./config.js";
import { createGatewayLogger } from "./log.js";

async function main(): Promise<void> {
  let config: GatewayConfig;
  try {
    config = loadGatewayConfig();
  } catch (err) {
    if (err instanceof GatewayConfigError) {
      process.stderr.write(`${err.message}\n`);
      process.exit(2);
    }
    throw err;
  }
  const logger = createGatewayLogger(config.logLevel);
  const gateway: Gateway = createGateway(config, logger);
  let stopping = false;
  const stop = async (signal: string) => {
    if (stopping) return;
    stopping = true;
    logger.info("shutting down", { signal });
    setTimeout(() => {
      logger.error("shutdown did not finish in time; exiting", { timeout_ms: config.shutdownTimeoutMs });
      process.exit(1);
    }, config.shutdownTimeoutMs).unref();
    await gateway.close();
    logger.info("stopped");
    process.exit(0);
  };
  process.on("SIGTERM", () => void stop("SIGTERM"));
  process.on("SIGINT", () => void stop("SIGINT"));
  process.on("SIGHUP", () => void stop("SIGHUP"));
  const addr = await gateway.listen(config.port, config.host);
  const host = addr.family === "IPv6" ? `[${addr.address}]` : addr.address;
  logger.info("listening", { url: `http://${host}:${addr.port}`, port: addr.port, release_service: config.tsrUrl });
}

main().catch((err: unknown) => {
  process.stderr.write(`fatal: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
  process.exit(1);
});
