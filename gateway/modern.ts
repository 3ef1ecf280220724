import {
  CLIENT_CAPABILITIES_META_KEY,
  createMcpHandler,
  inputRequired,
  inputResponse,
  ProtocolError,
  ProtocolErrorCode,
  Server,
  type JSONRPCRequest,
  type McpHttpHandler,
  type Result,
  type ServerContext,
} from "@modelcontextprotocol/server";
import type { ResolvedTool } from "../gen/releases/v1/releases_pb.js";
import { callTool, CONFIRM_SCHEMA, confirmMessage, UnknownToolError } from "./calls.js";
import { getPrompt, PromptArgumentError } from "./content.js";
import type { Endpoint } from "./endpoints.js";
import { cacheHint, instructions, serverInfo, type McpDeps } from "./mcp-shared.js";
import { noteRequest } from "./request-log.js";

/** Contexts of requests that reached one of the gateway's handlers (past the SDK's validation). */
const entered = new WeakSet<ServerContext>();

/**
 * An SDK 2.x Server whose params validation answers what it is. The SDK checks
 * a request's params before the handler runs and answers a failure as an
 * internal error (-32603); a request that failed before reaching a handler
 * here is answered invalid params (-32602). Errors of the handlers themselves
 * (they mark their context as entered) stay as they are.
 */
class GatewayServer extends Server {
  protected override _wrapHandler(
    method: string,
    handler: (request: JSONRPCRequest, ctx: ServerContext) => Promise<Result>,
  ): (request: JSONRPCRequest, ctx: ServerContext) => Promise<Result> {
    const inner = super._wrapHandler(method, handler);
    return async (request, ctx) => {
      try {
        return await inner(request, ctx);
      } catch (err) {
        if (entered.has(ctx) || err instanceof ProtocolError) throw err;
        const why = err instanceof Error ? err.message : String(err);
        throw new ProtocolError(ProtocolErrorCode.InvalidParams, `invalid params for ${method}: ${why.slice(0, 500)}`);
      }
    };
  }
}

/**
 * The 2026-07-28 (stateless) face of one endpoint and credential: an SDK 2.x
 * handler whose `subscriptions/listen` streams hear that endpoint's changes
 * and nothing else.
 */
export class ModernEndpoints {
  /** By endpoint object, not key: a reopened endpoint of the same key gets a handler of its own. */
  private readonly handlers = new Map<Endpoint, McpHttpHandler>();

  constructor(private readonly deps: McpDeps) {}

  /** The handler of an endpoint, made on first use and dropped when the endpoint closes. */
  handler(endpoint: Endpoint): McpHttpHandler {
    let h = this.handlers.get(endpoint);
    if (h !== undefined) return h;
    const handler = createMcpHandler(() => this.buildServer(endpoint), {
      legacy: "reject",
      // Every anonymous client of a public endpoint shares this handler: the SDK's default (1,024) is too low.
      maxSubscriptions: this.deps.listenStreamsPerEndpoint,
      onerror: (err) => this.deps.logger.debug("modern exchange error", { endpoint: endpoint.address.label, error: err.message }),
    });
    h = handler;
    this.handlers.set(endpoint, handler);
    endpoint.listeners.add({
      changed: (change) => {
        if (change.tools) handler.notify.toolsChanged();
        if (change.prompts) handler.notify.promptsChanged();
      },
      closed: () => {
        this.handlers.delete(endpoint);
        void handler.close();
      },
    });
    return handler;
  }

  /** Closes every handler (shutdown). */
  async close(): Promise<void> {
    const all = [...this.handlers.values()];
    this.handlers.clear();
    await Promise.all(all.map((h) => h.close()));
  }

  private buildServer(endpoint: Endpoint): Server {
    const deps = this.deps;
    const hint = cacheHint(endpoint, deps.listTtlMs);
    const live = endpoint.address.kind !== "release";
    const instr = instructions(endpoint);
    const server = new GatewayServer(serverInfo(endpoint, deps.version), {
      capabilities: { tools: { listChanged: live }, prompts: { listChanged: live } },
      cacheHints: { "tools/list": hint, "prompts/list": hint, "server/discover": hint },
      ...(instr !== undefined ? { instructions: instr } : {}),
    });
    server.setRequestHandler("tools/list", (_request, ctx) => {
      entered.add(ctx);
      const state = endpoint.state;
      noteRequest({ release: Number(state.resolved.releaseNumber) });
      return { tools: state.tools, _meta: state.listMeta };
    });
    server.setRequestHandler("prompts/list", (_request, ctx) => {
      entered.add(ctx);
      const state = endpoint.state;
      noteRequest({ release: Number(state.resolved.releaseNumber) });
      return { prompts: state.prompts, _meta: state.listMeta };
    });
    server.setRequestHandler("prompts/get", (request, ctx) => {
      entered.add(ctx);
      const state = endpoint.state;
      noteRequest({ release: Number(state.resolved.releaseNumber) });
      try {
        return getPrompt(state, request.params.name, request.params.arguments);
      } catch (err) {
        if (err instanceof PromptArgumentError) throw new ProtocolError(ProtocolErrorCode.InvalidParams, err.message);
        throw err;
      }
    });
    server.setRequestHandler("tools/call", async (request, ctx) => {
      entered.add(ctx);
      const headers: Record<string, string> = {};
      ctx.http?.req?.headers.forEach((value, name) => {
        headers[name] = value;
      });
      const options = {
        guard: deps.guard,
        timeoutMs: deps.upstreamTimeoutMs,
        maxResponseBytes: deps.upstreamMaxResponseBytes,
        clientHeaders: headers,
        signal: ctx.mcpReq.signal,
        metrics: deps.metrics,
      };
      // A confirmation is a round trip of its own: an input_required result, then
      // the client's retry carrying the user's answer (the gateway keeps no state between).
      const ask = async (tool: ResolvedTool) => {
        const view = inputResponse(ctx.mcpReq.inputResponses, "confirm");
        if (view.kind === "missing") {
          const caps = (ctx.mcpReq.envelope as Record<string, unknown> | undefined)?.[CLIENT_CAPABILITIES_META_KEY] as
            { elicitation?: unknown } | undefined;
          if (caps?.elicitation === undefined) return "unsupported" as const;
          const pending = inputRequired({
            inputRequests: { confirm: inputRequired.elicit({ message: confirmMessage(tool), requestedSchema: CONFIRM_SCHEMA as never }) },
          });
          return { pending };
        }
        return view.kind === "elicit" && view.action === "accept" && view.content?.["confirm"] === true
          ? ("accepted" as const)
          : ("declined" as const);
      };
      try {
        return await callTool(endpoint.state, request.params.name, request.params.arguments ?? {}, options, ask);
      } catch (err) {
        if (err instanceof UnknownToolError) throw new ProtocolError(ProtocolErrorCode.InvalidParams, err.message);
        throw err;
      }
    });
    return server;
  }
}
