import { randomUUID } from "node:crypto";
import type { IncomingMessage, ServerResponse } from "node:http";
import { Server } from "@modelcontextprotocol/sdk/server/index.js";
import { StreamableHTTPServerTransport } from "@modelcontextprotocol/sdk/server/streamableHttp.js";
import {
  CallToolRequestSchema,
  ErrorCode,
  GetPromptRequestSchema,
  InitializeRequestSchema,
  ListPromptsRequestSchema,
  ListToolsRequestSchema,
  McpError,
  PingRequestSchema,
} from "@modelcontextprotocol/sdk/types.js";
import { callTool, CONFIRM_SCHEMA, confirmMessage, UnknownToolError, type Confirmation } from "./calls.js";
import { getPrompt, PromptArgumentError } from "./content.js";
import type { Endpoint, EndpointListener } from "./endpoints.js";
import { instructions, serverInfo, type McpDeps } from "./mcp-shared.js";
import { noteRequest } from "./request-log.js";

/**
 * An invalid-params error whose message reaches the client as written (SDK 1.x's
 * McpError puts "MCP error <code>: " before it, and clients add theirs again).
 */
function invalidParams(message: string): McpError {
  const err = new McpError(ErrorCode.InvalidParams, message);
  err.message = message;
  return err;
}

/** The request schemas of the methods a 2025-era session answers. */
const REQUEST_SCHEMAS = new Map<
  string,
  { safeParse(value: unknown): { success: boolean; error?: { issues: { path: PropertyKey[]; message: string }[] } } }
>([
  ["initialize", InitializeRequestSchema],
  ["ping", PingRequestSchema],
  ["tools/list", ListToolsRequestSchema],
  ["tools/call", CallToolRequestSchema],
  ["prompts/list", ListPromptsRequestSchema],
  ["prompts/get", GetPromptRequestSchema],
]);

/**
 * The first request of a body (one message or a batch) whose params its
 * method's schema refuses, with what is wrong. SDK 1.x checks params outside
 * the handlers and answers a failure as an internal error (-32603); checked
 * here first, bad params are the client's -32602.
 */
export function invalidLegacyParams(body: unknown): { id: string | number | null; message: string } | undefined {
  for (const message of Array.isArray(body) ? body : [body]) {
    if (typeof message !== "object" || message === null) continue;
    const { method, id } = message as { method?: unknown; id?: unknown };
    if (typeof method !== "string" || id === undefined) continue; // notifications and responses get no answer
    const check = REQUEST_SCHEMAS.get(method)?.safeParse(message);
    if (check === undefined || check.success) continue;
    const issue = check.error?.issues[0];
    const where = issue === undefined || issue.path.length === 0 ? "" : ` at ${issue.path.map(String).join(".")}`;
    return {
      id: typeof id === "string" || (typeof id === "number" && Number.isFinite(id)) ? id : null,
      message: `invalid params for ${method}${where}: ${issue?.message ?? "does not match the method's schema"}`,
    };
  }
  return undefined;
}

/** A 2025-era session: one SDK 1.x Server on one Streamable HTTP transport, bound to one endpoint and credential. */
interface LegacySession {
  id: string;
  endpoint: Endpoint;
  server: Server;
  transport: StreamableHTTPServerTransport;
  lastUsed: number;
  /** Open GET streams (a session waiting for notifications is not idle). */
  streams: number;
  closed: boolean;
}

/**
 * The sessions of 2025-03-26 … 2025-11-25 clients (Streamable HTTP with
 * sessions, list_changed on the GET stream), served by `@modelcontextprotocol/sdk` 1.x.
 */
export class LegacySessions {
  private readonly sessions = new Map<string, LegacySession>();
  private readonly sweeper: NodeJS.Timeout;

  constructor(
    private readonly deps: McpDeps,
    private readonly idleMs: number,
  ) {
    this.sweeper = setInterval(() => this.sweep(), Math.min(60_000, idleMs)).unref();
  }

  /** Open sessions (metrics, benchmarks). */
  get size(): number {
    return this.sessions.size;
  }

  /** The session a request names, if it exists and belongs to this endpoint and credential. */
  find(sessionId: string, endpointKey: string): LegacySession | undefined {
    const s = this.sessions.get(sessionId);
    return s !== undefined && !s.closed && s.endpoint.key === endpointKey ? s : undefined;
  }

  /** Serves a request of an existing session. */
  async handle(session: LegacySession, req: IncomingMessage, res: ServerResponse, body: unknown): Promise<void> {
    session.lastUsed = Date.now();
    noteRequest({ release: Number(session.endpoint.state.resolved.releaseNumber) });
    if (req.method === "GET") {
      session.streams++;
      res.once("close", () => {
        session.streams--;
        session.lastUsed = Date.now();
      });
    }
    await session.transport.handleRequest(req, res, body);
  }

  /**
   * Opens a session with an `initialize` request. The session holds the
   * endpoint (already held by the caller, who hands that hold over);
   * `onClosed` runs once, when the session ends (at once when none opened).
   */
  async open(endpoint: Endpoint, req: IncomingMessage, res: ServerResponse, body: unknown, onClosed: () => void = () => undefined): Promise<void> {
    const server = this.buildServer(endpoint);
    let session: LegacySession | undefined;
    const transport = new StreamableHTTPServerTransport({
      sessionIdGenerator: () => randomUUID(),
      onsessioninitialized: (id) => {
        session = { id, endpoint, server, transport, lastUsed: Date.now(), streams: 0, closed: false };
        this.sessions.set(id, session);
      },
    });
    const listener: EndpointListener = {
      changed: (change) => {
        // The transport drops a notification when no GET stream is open: only those with one are counted.
        const sent = (list: "tools" | "prompts") => () => {
          if ((session?.streams ?? 0) > 0) this.deps.metrics.listChanged.inc({ era: "2025", list });
        };
        if (change.tools) server.sendToolListChanged().then(sent("tools"), () => undefined);
        if (change.prompts) server.sendPromptListChanged().then(sent("prompts"), () => undefined);
      },
      closed: () => {
        void transport.close();
      },
    };
    endpoint.listeners.add(listener);
    let ended = false;
    transport.onclose = () => {
      if (ended) return;
      ended = true;
      onClosed();
      endpoint.listeners.delete(listener);
      if (session !== undefined) {
        session.closed = true;
        this.sessions.delete(session.id);
      }
      endpoint.release();
    };
    try {
      await server.connect(transport);
      noteRequest({ release: Number(endpoint.state.resolved.releaseNumber) });
      await transport.handleRequest(req, res, body);
    } finally {
      // An initialize the transport refused (or that failed) opened no session: let go at once
      // (closing runs onclose, which gives back the endpoint hold and the client's place).
      if (session === undefined) await transport.close();
    }
  }

  /** Closes every session (shutdown). */
  async close(): Promise<void> {
    clearInterval(this.sweeper);
    await Promise.all([...this.sessions.values()].map((s) => s.transport.close()));
  }

  private sweep(): void {
    const cutoff = Date.now() - this.idleMs;
    for (const s of this.sessions.values()) {
      if (s.streams === 0 && s.lastUsed < cutoff) void s.transport.close();
    }
  }

  private buildServer(endpoint: Endpoint): Server {
    const deps = this.deps;
    const live = endpoint.address.kind !== "release";
    const instr = instructions(endpoint);
    const server = new Server(serverInfo(endpoint, deps.version), {
      capabilities: { tools: { listChanged: live }, prompts: { listChanged: live } },
      ...(instr !== undefined ? { instructions: instr } : {}),
    });
    server.setRequestHandler(ListToolsRequestSchema, () => {
      const state = endpoint.state;
      return { tools: state.tools, _meta: state.listMeta };
    });
    server.setRequestHandler(ListPromptsRequestSchema, () => {
      const state = endpoint.state;
      return { prompts: state.prompts, _meta: state.listMeta };
    });
    server.setRequestHandler(GetPromptRequestSchema, (request) => {
      const state = endpoint.state;
      noteRequest({ release: Number(state.resolved.releaseNumber) });
      try {
        return getPrompt(state, request.params.name, request.params.arguments);
      } catch (err) {
        if (err instanceof PromptArgumentError) throw invalidParams(err.message);
        throw err;
      }
    });
    server.setRequestHandler(CallToolRequestSchema, async (request, extra) => {
      const options = {
        guard: deps.guard,
        timeoutMs: deps.upstreamTimeoutMs,
        maxResponseBytes: deps.upstreamMaxResponseBytes,
        clientHeaders: extra.requestInfo?.headers ?? {},
        signal: extra.signal,
        metrics: deps.metrics,
      };
      try {
        return await callTool(endpoint.state, request.params.name, request.params.arguments ?? {}, options, (tool) =>
          this.confirm(server, confirmMessage(tool), extra.signal, extra.requestId),
        );
      } catch (err) {
        if (err instanceof UnknownToolError) throw invalidParams(err.message);
        throw err;
      }
    });
    return server;
  }

  /**
   * Asks the user through the client. The request rides on the tools/call's own
   * response stream (relatedRequestId), so it reaches a client with no GET
   * stream open; a user gets `confirmTimeoutMs` to answer; a failed or timed-out
   * elicitation counts as "not confirmed".
   */
  private async confirm(server: Server, message: string, signal: AbortSignal, requestId: string | number): Promise<Confirmation> {
    const elicitation = server.getClientCapabilities()?.elicitation as { form?: unknown; url?: unknown } | undefined;
    // `{}` is the 2025-06-18 form of "form mode"; a client declaring only URL mode cannot show a form.
    if (elicitation === undefined || (elicitation.form === undefined && elicitation.url !== undefined)) return "unsupported";
    try {
      const answer = await server.elicitInput(
        { mode: "form", message, requestedSchema: CONFIRM_SCHEMA as never },
        { signal, relatedRequestId: requestId, timeout: this.deps.confirmTimeoutMs },
      );
      return answer.action === "accept" && answer.content?.["confirm"] === true ? "accepted" : "declined";
    } catch (err) {
      this.deps.logger.debug("confirmation failed", { error: err instanceof Error ? err.message : String(err) });
      return "declined";
    }
  }
}
