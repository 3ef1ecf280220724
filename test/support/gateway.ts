import { Client as LegacyClient } from "@modelcontextprotocol/sdk/client/index.js";
import { StreamableHTTPClientTransport as LegacyTransport } from "@modelcontextprotocol/sdk/client/streamableHttp.js";
import {
  ElicitRequestSchema,
  PromptListChangedNotificationSchema,
  ToolListChangedNotificationSchema,
  type ElicitResult,
} from "@modelcontextprotocol/sdk/types.js";
import { Client as ModernClient, StreamableHTTPClientTransport as ModernTransport } from "@modelcontextprotocol/client";
import { createGateway, type Gateway, type GatewayOverrides } from "../../gateway/app.js";
import { loadGatewayConfig, type GatewayConfig } from "../../gateway/config.js";
import { createGatewayLogger } from "../../gateway/log.js";

/** A gateway on 127.0.0.1:0 in front of a release service, with its log lines kept. */
export interface TestGateway {
  url: string;
  gateway: Gateway;
  /** Parsed JSON log lines, oldest first. */
  logs: Record<string, unknown>[];
  /** The MCP URL of an endpoint path such as `org/project/slug/staging`. */
  mcpUrl(path: string): string;
  close(): Promise<void>;
}

/**
 * Starts a gateway for `tsrUrl`: production defaults but the per-address rate
 * limit (every test client is 127.0.0.1); tests override what they exercise.
 */
export async function startTestGateway(tsrUrl: string, config: Partial<GatewayConfig> = {}, overrides: GatewayOverrides = {}): Promise<TestGateway> {
  const full: GatewayConfig = { ...loadGatewayConfig({}), tsrUrl, endpointIdleMs: 500, rateLimitPerSecond: 0, ...config };
  const logs: Record<string, unknown>[] = [];
  const logger = createGatewayLogger("debug", { write: (s: string) => logs.push(JSON.parse(s) as Record<string, unknown>) });
  const gateway = createGateway(full, logger, { backoffMs: { min: 20, max: 200 }, ...overrides });
  const addr = await gateway.listen(0, "127.0.0.1");
  const url = `http://127.0.0.1:${addr.port}`;
  return { url, gateway, logs, mcpUrl: (path) => `${url}/mcp/${path}`, close: () => gateway.close() };
}

/** The two protocol eras a test runs against. */
export type Era = "2025-11-25" | "2026-07-28";
export const ERAS: readonly Era[] = ["2025-11-25", "2026-07-28"];

/** How a test client answers a confirmation (elicitation); undefined = the client does not support elicitation. */
export type ElicitAnswer = (message: string) => { action: "accept" | "decline" | "cancel"; content?: Record<string, unknown> };

/** An MCP client of either era with the calls tests make, counting list-changed notifications. */
export interface McpTestClient {
  era: Era;
  listTools(): Promise<{ tools: { name: string; [k: string]: unknown }[]; _meta?: Record<string, unknown> | undefined; [k: string]: unknown }>;
  callTool(name: string, args?: Record<string, unknown>): Promise<{ content: unknown[]; isError?: boolean | undefined; [k: string]: unknown }>;
  listPrompts(): Promise<{ prompts: { name: string; [k: string]: unknown }[]; [k: string]: unknown }>;
  getPrompt(name: string, args?: Record<string, string>): Promise<{ messages: { content: unknown }[]; [k: string]: unknown }>;
  /** tools/list_changed notifications received so far. */
  readonly toolsChanged: number;
  readonly promptsChanged: number;
  /** Resolves when toolsChanged exceeds `seen`, rejects after `timeoutMs`. */
  waitForToolsChanged(seen: number, timeoutMs?: number): Promise<number>;
  /** Resolves when the server ends the notification stream. */
  streamEnded: Promise<void>;
  close(): Promise<void>;
}

/** Connects a client of `era` to `url`; with `listen`, it opens the notification stream (GET or subscriptions/listen). */
export async function connectClient(
  era: Era,
  url: string,
  options: { key?: string; headers?: Record<string, string>; elicit?: ElicitAnswer; listen?: boolean } = {},
): Promise<McpTestClient> {
  const headers: Record<string, string> = { ...options.headers, ...(options.key !== undefined ? { authorization: `Bearer ${options.key}` } : {}) };
  let toolsChanged = 0;
  let promptsChanged = 0;
  const waiters = new Set<() => void>();
  const bump = () => {
    for (const w of [...waiters]) w();
  };
  let endStream!: () => void;
  const streamEnded = new Promise<void>((r) => (endStream = r));
  const waitForToolsChanged = (seen: number, timeoutMs = 1_000) =>
    new Promise<number>((resolve, reject) => {
      const check = () => {
        if (toolsChanged > seen) {
          waiters.delete(check);
          clearTimeout(timer);
          resolve(toolsChanged);
        }
      };
      const timer = setTimeout(() => {
        waiters.delete(check);
        reject(new Error(`no tools/list_changed within ${timeoutMs} ms (seen ${toolsChanged})`));
      }, timeoutMs);
      waiters.add(check);
      check();
    });

  /** The era's calls, with what both eras observe the same way. */
  const observed = (calls: Pick<McpTestClient, "listTools" | "callTool" | "listPrompts" | "getPrompt" | "close">): McpTestClient => ({
    era,
    ...calls,
    get toolsChanged() {
      return toolsChanged;
    },
    get promptsChanged() {
      return promptsChanged;
    },
    waitForToolsChanged,
    streamEnded,
  });

  if (era === "2025-11-25") {
    const client = new LegacyClient({ name: "test-legacy", version: "1.0.0" }, { capabilities: options.elicit ? { elicitation: {} } : {} });
    client.setNotificationHandler(ToolListChangedNotificationSchema, () => {
      toolsChanged++;
      bump();
    });
    client.setNotificationHandler(PromptListChangedNotificationSchema, () => {
      promptsChanged++;
    });
    if (options.elicit) {
      const answer = options.elicit;
      client.setRequestHandler(ElicitRequestSchema, (req): ElicitResult => answer(req.params.message) as ElicitResult);
    }
    const transport = new LegacyTransport(new URL(url), { requestInit: { headers } });
    transport.onclose = () => endStream();
    await client.connect(transport);
    return observed({
      listTools: () => client.listTools(),
      callTool: (name, args = {}) => client.callTool({ name, arguments: args }) as never,
      listPrompts: () => client.listPrompts(),
      getPrompt: (name, args) => client.getPrompt({ name, ...(args ? { arguments: args } : {}) }),
      close: async () => {
        await transport.terminateSession().catch(() => undefined);
        await client.close();
      },
    });
  }

  const client = new ModernClient(
    { name: "test-modern", version: "1.0.0" },
    { versionNegotiation: { mode: { pin: "2026-07-28" } }, capabilities: options.elicit ? { elicitation: { form: {} } } : {} },
  );
  client.setNotificationHandler("notifications/tools/list_changed", () => {
    toolsChanged++;
    bump();
  });
  client.setNotificationHandler("notifications/prompts/list_changed", () => {
    promptsChanged++;
  });
  if (options.elicit) {
    const answer = options.elicit;
    client.setRequestHandler("elicitation/create", (req) => answer(req.params.message) as never);
  }
  await client.connect(new ModernTransport(new URL(url), { requestInit: { headers } }));
  let subscription: Awaited<ReturnType<typeof client.listen>> | undefined;
  if (options.listen !== false) {
    subscription = await client.listen({ toolsListChanged: true, promptsListChanged: true });
    void subscription.closed.then(() => endStream());
  }
  return observed({
    listTools: () => client.listTools(undefined, { cacheMode: "bypass" }) as never,
    callTool: (name, args = {}) => client.callTool({ name, arguments: args }) as never,
    listPrompts: () => client.listPrompts(undefined, { cacheMode: "bypass" }) as never,
    getPrompt: (name, args) => client.getPrompt({ name, ...(args ? { arguments: args } : {}) }) as never,
    close: async () => {
      await subscription?.close().catch(() => undefined);
      await client.close();
    },
  });
}

/** The headers of a Streamable HTTP POST. */
export const MCP_POST_HEADERS = { "content-type": "application/json", accept: "application/json, text/event-stream" } as const;

/**
 * A raw 2025-11-25 `initialize` POST, for tests of what the gateway's HTTP layer
 * answers (statuses, headers). `headers` come on top of MCP_POST_HEADERS.
 */
export function postInitialize(
  url: string,
  headers: Record<string, string> = {},
  options: { capabilities?: Record<string, unknown>; signal?: AbortSignal } = {},
): Promise<Response> {
  return fetch(url, {
    method: "POST",
    headers: { ...MCP_POST_HEADERS, ...headers },
    ...(options.signal ? { signal: options.signal } : {}),
    body: JSON.stringify({
      jsonrpc: "2.0",
      id: 1,
      method: "initialize",
      params: { protocolVersion: "2025-11-25", capabilities: options.capabilities ?? {}, clientInfo: { name: "raw", version: "1" } },
    }),
  });
}

/** A scrape of a gateway's /metrics: the text, and one sample's value by name and labels (0 when absent). */
export interface MetricsScrape {
  text: string;
  value(name: string, labels?: Record<string, string>): number;
}

/** Scrapes `${gatewayUrl}/metrics`. */
export async function scrapeMetrics(gatewayUrl: string): Promise<MetricsScrape> {
  const res = await fetch(`${gatewayUrl}/metrics`);
  if (res.status !== 200) throw new Error(`/metrics answered ${res.status}`);
  const text = await res.text();
  const samples = text
    .split("\n")
    .filter((line) => line !== "" && !line.startsWith("#"))
    .map((line) => {
      const m = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})? (\S+)$/.exec(line);
      if (m === null) throw new Error(`unparsable metrics line: ${line}`);
      const labels: Record<string, string> = {};
      for (const [, k, v] of (m[2] ?? "").matchAll(/([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"/g)) labels[k!] = v!;
      return { name: m[1]!, labels, value: Number(m[3]) };
    });
  return {
    text,
    value(name, labels = {}) {
      const wanted = Object.entries(labels);
      const found = samples.find(
        (s) => s.name === name && Object.keys(s.labels).length === wanted.length && wanted.every(([k, v]) => s.labels[k] === v),
      );
      return found?.value ?? 0;
    },
  };
}
