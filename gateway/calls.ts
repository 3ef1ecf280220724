import { Ajv2020, type ValidateFunction } from "ajv/dist/2020.js";
import type { ResolvedTool } from "../gen/releases/v1/releases_pb.js";
import type { ServedState } from "./content.js";
import type { GatewayMetrics } from "./metrics.js";
import { noteRequest } from "./request-log.js";
import { callHttpTool, type UpstreamGuard, type UpstreamOutcome } from "./upstream/index.js";

/** The answer of a confirmation asked through elicitation. */
export type Confirmation = "accepted" | "declined" | "unsupported";

/** An MCP CallToolResult with text content. */
export interface ToolResult {
  content: { type: "text"; text: string }[];
  isError?: boolean;
  [key: string]: unknown;
}

/** What executing a tools/call needs besides the tool. */
export interface ToolCallOptions {
  guard: UpstreamGuard;
  timeoutMs: number;
  maxResponseBytes: number;
  /** The MCP client's HTTP request headers (mcp-upstream-* are forwarded). */
  clientHeaders: Record<string, string | string[] | undefined>;
  signal?: AbortSignal;
  /** Counts the upstream call by outcome. */
  metrics: GatewayMetrics;
}

/** The outcome of a tools/call, for the request log. */
export type CallOutcome = UpstreamOutcome | "unknown_tool" | "declined" | "no_elicitation" | "invalid_arguments";

// JSON Schema 2020-12 is MCP's default dialect. Formats are not checked (the
// service stores schemas as written); a schema ajv cannot compile (another
// dialect, a broken $ref) validates nothing rather than blocking the tool.
// One ajv per tool and state: a shared instance would keep every schema ever
// compiled, and refuse a schema's `$id` the second time it is seen.
const validators = new WeakMap<ResolvedTool, ValidateFunction | null>();

/**
 * A validator of an input schema. `pattern` and `patternProperties` are not
 * checked: their regular expressions are a tenant's, and a catastrophic one
 * would stall every endpoint of this gateway (the upstream still sees the value).
 */
function compileSchema(schema: Record<string, unknown>): ValidateFunction {
  const ajv = new Ajv2020({ strict: false, validateFormats: false, allErrors: true });
  ajv.removeKeyword("pattern");
  ajv.removeKeyword("patternProperties");
  return ajv.compile(schema);
}

/**
 * Checks tools/call arguments against the tool's inputSchema, before any
 * confirmation is asked: an error result the model can correct itself from,
 * or undefined when they are valid.
 */
function invalidArguments(tool: ResolvedTool, args: Record<string, unknown>): { result: ToolResult; outcome: CallOutcome } | undefined {
  let validate = validators.get(tool);
  if (validate === undefined) {
    try {
      validate = tool.inputSchema === undefined ? null : compileSchema({ ...tool.inputSchema, type: "object" });
    } catch {
      validate = null;
    }
    validators.set(tool, validate);
  }
  if (validate === null || validate(args)) return undefined;
  const problems = (validate.errors ?? [])
    .slice(0, 10)
    .map((e) => `${e.instancePath === "" ? "arguments" : `arguments${e.instancePath}`} ${e.message ?? "is invalid"}`);
  return { result: errorResult(`invalid arguments for tool "${tool.name}": ${problems.join("; ")}`), outcome: "invalid_arguments" };
}

/** A tools/call naming a tool the endpoint does not serve (a protocol error, -32602). */
export class UnknownToolError extends Error {}

/** The tool a tools/call names; throws UnknownToolError. */
function findTool(state: ServedState, name: string): ResolvedTool {
  const tool = state.toolsByName.get(name);
  if (tool === undefined) throw new UnknownToolError(`unknown tool: ${name}`);
  return tool;
}

/** The question shown before a tool with `confirm` runs. */
export function confirmMessage(tool: ResolvedTool): string {
  return tool.confirmPrompt !== "" ? tool.confirmPrompt : `Run ${tool.title !== "" ? tool.title : tool.name}?`;
}

/** The form shown with the confirmation: one checkbox that must be ticked. */
export const CONFIRM_SCHEMA = {
  type: "object",
  properties: { confirm: { type: "boolean", title: "Run it", description: "Tick to let the tool run" } },
  required: ["confirm"],
} as const;

/** The error result of a tool that needed a confirmation it did not get. */
function notConfirmed(tool: ResolvedTool, answer: Exclude<Confirmation, "accepted">): { result: ToolResult; outcome: CallOutcome } {
  if (answer === "unsupported") {
    return {
      result: errorResult(
        `tool "${tool.name}" asks the user to confirm each call, and this client cannot ask (it does not support elicitation); it was not run`,
      ),
      outcome: "no_elicitation",
    };
  }
  return { result: errorResult(`the user did not confirm; tool "${tool.name}" was not run`), outcome: "declined" };
}

/** Runs the HTTP tool (the confirmation, if any, was already given). */
async function runTool(
  tool: ResolvedTool,
  args: Record<string, unknown>,
  options: ToolCallOptions,
): Promise<{ result: ToolResult; outcome: CallOutcome }> {
  const started = performance.now();
  const r = await callHttpTool(
    { name: tool.name, httpMethod: tool.httpMethod, path: tool.path, serverUrl: tool.serverUrl, inputSchema: tool.inputSchema },
    args,
    options.clientHeaders,
    {
      guard: options.guard,
      timeoutMs: options.timeoutMs,
      maxResponseBytes: options.maxResponseBytes,
      ...(options.signal !== undefined ? { signal: options.signal } : {}),
    },
  );
  options.metrics.upstreamCall(r.outcome, (performance.now() - started) / 1000);
  return { result: r.result, outcome: r.outcome };
}

function errorResult(text: string): ToolResult {
  return { content: [{ type: "text", text }], isError: true };
}

/**
 * How an era asks for a tool's confirmation: the answer, or what to return
 * instead while the answer is pending (2026-07-28's input_required result).
 */
export type AskConfirmation<Pending> = (tool: ResolvedTool) => Promise<Confirmation | { pending: Pending }>;

/**
 * A tools/call, the same in both eras but for how a confirmation is asked:
 * find the tool (UnknownToolError otherwise), validate the arguments, confirm
 * when the tool asks for it, call the upstream. Notes the request's tool and
 * outcome for its log line.
 */
export async function callTool<Pending>(
  state: ServedState,
  name: string,
  args: Record<string, unknown>,
  options: ToolCallOptions,
  ask: AskConfirmation<Pending>,
): Promise<ToolResult | Pending> {
  noteRequest({ release: Number(state.resolved.releaseNumber) });
  let tool: ResolvedTool;
  try {
    tool = findTool(state, name);
  } catch (err) {
    if (err instanceof UnknownToolError) noteRequest({ outcome: "unknown_tool" });
    throw err;
  }
  noteRequest({ tool: tool.name });
  const done = ({ result, outcome }: { result: ToolResult; outcome: CallOutcome }) => {
    noteRequest({ outcome });
    return result;
  };
  const invalid = invalidArguments(tool, args);
  if (invalid !== undefined) return done(invalid);
  if (tool.confirm) {
    const answer = await ask(tool);
    if (typeof answer === "object") {
      noteRequest({ outcome: "input_required" });
      return answer.pending;
    }
    if (answer !== "accepted") return done(notConfirmed(tool, answer));
  }
  return done(await runTool(tool, args, options));
}
