import type { AddressInfo } from "node:net";
import { Code, ConnectError, type ConnectRouter, type Interceptor } from "@connectrpc/connect";
import type { Config } from "./config.js";
import { createServiceContext, type ContextOptions, type ServiceContext } from "./context.js";
import { callerKey } from "./auth/caller.js";
import { admitCaller, authInterceptor, isRead, PUBLIC_SERVICES } from "./auth/interceptor.js";
import { projectScopeKey } from "./auth/scope.js";
import { consoleRoute, isConsolePath } from "./platform/console-static.js";
import { corsFor } from "./platform/cors.js";
import { databaseReadiness, HealthState } from "./platform/health.js";
import { healthService } from "./platform/health-service.js";
import { createMetrics, serveMetrics, writeMetrics, type Metrics } from "./platform/metrics.js";
import { observeInterceptor } from "./platform/observe.js";
import { createAuthFailureLimiter, createRateLimiter } from "./platform/rate-limit.js";
import { registerReflection } from "./platform/reflection.js";
import { createRpcHandler } from "./platform/rpc-handler.js";
import { createDualServer, type DualServer, type RequestHandler } from "./platform/server.js";
import { streamLimitInterceptor } from "./platform/stream-limits.js";
import { Health } from "../gen/grpc/health/v1/health_pb.js";
import { SourceService } from "../gen/sources/v1/sources_pb.js";
import { ToolsetService } from "../gen/toolsets/v1/toolsets_pb.js";
import { ReleaseService } from "../gen/releases/v1/releases_pb.js";
import { AccountService } from "../gen/accounts/v1/accounts_pb.js";
import { sourceService } from "./sources/service.js";
import { toolsetService } from "./toolsets/service.js";
import { releaseService } from "./releases/service.js";
import { accountService } from "./accounts/service.js";

/** The assembled service: routes, interceptors, HTTP endpoints; not yet listening. */
export interface App {
  server: DualServer;
  health: HealthState;
  /** What the handlers share (served state, change feed, watches): for counters and tests. */
  context: ServiceContext;
  /** What GET /metrics reports. */
  metrics: Metrics;
  /** Where /metrics listens when METRICS_PORT is set, once listening; else undefined (it is on the service port). */
  readonly metricsAddress: AddressInfo | undefined;
  /** Starts the change feed and listens. */
  listen(port: number, host: string): Promise<AddressInfo>;
  /** Marks NOT_SERVING (open watches end), stops accepting, drains in-flight calls, stops the change feed. The caller closes the database. */
  shutdown(): Promise<void>;
}

/** The services this process serves, in one place (also what reflection lists). */
export const SERVICES = [SourceService, ToolsetService, ReleaseService, AccountService, Health] as const;

const READY_TIMEOUT_MS = 2_000;

/** The configuration the app itself reads (not the database's, which the caller opens). */
export type AppConfig = Omit<
  Config,
  "databaseUrl" | "host" | "port" | "logLevel" | "migrateOnStart" | "dataDir" | "embeddedPgPort" | "listenDatabaseUrl"
>;

/** Builds the application around a database handle. */
export function createApp(options: ContextOptions, config: AppConfig): App {
  // Filled as the routes are registered: the procedures /metrics may name.
  const procedures = new Set<string>();
  const metrics = createMetrics(procedures, () => ({
    served: context.served,
    servedStateMaxBytes: options.servedStateMaxBytes,
    watches: context.watches,
    listener: context.listener,
    pools: options.pools ?? {},
    inFlight: () => server.inFlight(),
  }));
  const context = createServiceContext({ ...options, onNotice: (change) => metrics.noticeLag(Date.now() - change.at) });
  const health = new HealthState();
  const routes = (router: ConnectRouter) => {
    router.service(SourceService, sourceService(context));
    router.service(ToolsetService, toolsetService(context));
    router.service(ReleaseService, releaseService(context));
    router.service(AccountService, accountService(context));
    router.service(Health, healthService(health));
    registerReflection(router, SERVICES);
    for (const h of router.handlers) procedures.add(h.requestPath);
  };
  const rateLimit = createRateLimiter(config.rateLimits, { exempt: PUBLIC_SERVICES, keyOf: (values) => values.get(callerKey)?.keyId, isRead });
  const authFailures = createAuthFailureLimiter(config.rateLimits.anonymous);
  const rpc = createRpcHandler({
    routes,
    interceptors: [
      observeInterceptor(context.logger, (values) => values.get(callerKey)?.keyId ?? null, metrics),
      authInterceptor(context.tenancy),
      streamLimitInterceptor({ maxPerClient: config.maxStreamsPerClient, maxHealthWatches: config.maxHealthWatches }),
      readYourWrites(context),
    ],
    readMaxBytes: config.maxRequestBytes,
    maxInFlight: config.maxInFlight,
    // The key and its rate limit are checked from the headers before the body is read (see platform/rpc-handler.ts).
    admit: async (method, header, values) => {
      const keyed = header.has("authorization");
      if (keyed) authFailures.check();
      try {
        await admitCaller(context.tenancy)(method, header, values);
      } catch (err) {
        if (keyed && err instanceof ConnectError && err.code === Code.Unauthenticated) authFailures.failed();
        throw err;
      }
      rateLimit(method, values);
    },
    callerIdOf: (values) => values.get(callerKey)?.keyId ?? null,
    onUnobserved: (procedure, error) => metrics.rpcEnded(procedure, error, undefined),
    logger: context.logger,
    streamShutdownSignal: health.shutdownSignal,
    trustedProxyHops: config.trustedProxyHops,
  });
  const cors = corsFor(config.corsAllowedOrigins, context.logger);
  // Off: its paths fall through to the RPC router, which answers 404.
  const serveConsole = config.consoleEnabled
    ? consoleRoute({ dir: config.consoleDir, gatewayPublicUrl: config.gatewayPublicUrl, logger: context.logger })
    : undefined;

  const databaseReady = databaseReadiness(context.db, { timeoutMs: READY_TIMEOUT_MS, logger: context.logger });
  const ready = async (): Promise<boolean> => health.isServing() && (await databaseReady());

  const handler: RequestHandler = (req, res) => {
    const path = (req.url ?? "/").split("?")[0];
    // No tenant data in it (see platform/metrics.ts); METRICS_PORT moves it off the service port.
    if (req.method === "GET" && path === "/metrics" && config.metricsPort === undefined) {
      void writeMetrics(metrics, res);
      return;
    }
    if (req.method === "GET" && (path === "/healthz" || path === "/readyz")) {
      const reply = (status: number, body: object) => {
        res.writeHead(status, { "content-type": "application/json", "cache-control": "no-store" });
        res.end(JSON.stringify(body));
      };
      if (path === "/healthz") return reply(200, { status: "ok" });
      void ready().then((ok) => reply(ok ? 200 : 503, { status: ok ? "ready" : "unavailable" }));
      return;
    }
    // The browser console (its own headers: a strict CSP; same origin as the API, so no CORS).
    if (serveConsole !== undefined && path !== undefined && isConsolePath(path)) return serveConsole(req, res, path);
    const decision = cors(req.method, req.headers, path);
    if (decision) {
      for (const [k, v] of Object.entries(decision.headers)) res.setHeader(k, v);
      if (decision.preflight) {
        res.writeHead(204);
        res.end();
        return;
      }
    }
    rpc(req, res);
  };

  const server = createDualServer(handler, {
    http2MaxConcurrentStreams: config.http2MaxConcurrentStreams,
    idleConnectionTimeoutMs: config.idleConnectionTimeoutMs,
  });
  let metricsServer: Awaited<ReturnType<typeof serveMetrics>> | undefined;
  return {
    server,
    health,
    context,
    metrics,
    get metricsAddress() {
      return metricsServer?.address;
    },
    async listen(port, host) {
      context.listener?.start();
      const address = await server.listen(port, host);
      if (config.metricsPort !== undefined) metricsServer = await serveMetrics(metrics, config.metricsPort, host);
      return address;
    },
    async shutdown() {
      // Watches first, so their streams end with UNAVAILABLE (not as a cancel) when stopServing aborts them.
      context.watches.close();
      health.stopServing();
      await server.shutdown(config.shutdownTimeoutMs);
      await context.listener?.stop();
      await metricsServer?.close();
    },
  };
}

/**
 * After a write (successful or not), this process drops what it holds of the
 * write's project before it answers, so the writer's next read on this replica
 * sees the write without waiting for the change notice (which other replicas
 * wait for). A write that failed may have committed nothing: dropping is cheap.
 */
function readYourWrites({ served }: ServiceContext): Interceptor {
  return (next) => async (req) => {
    if (isRead(req.method)) return next(req);
    try {
      return await next(req);
    } finally {
      const project = req.contextValues.get(projectScopeKey);
      if (project) served.apply({ scope: "sources", organizationId: project.organizationId, projectId: project.id, at: Date.now() });
    }
  };
}
