import type { LogLevel } from "../config.js";
import { currentRequest } from "./request-context.js";

/** Structured fields of a log line; never put keys or request bodies here. */
export type LogFields = Record<string, unknown>;

/** A JSON-lines logger: one object per line on the given stream. */
export interface Logger {
  debug(msg: string, fields?: LogFields): void;
  info(msg: string, fields?: LogFields): void;
  warn(msg: string, fields?: LogFields): void;
  error(msg: string, fields?: LogFields): void;
}

const ORDER: Record<LogLevel, number> = { debug: 10, info: 20, warn: 30, error: 40 };

/**
 * Creates a logger writing lines at `level` and above to `out` (stdout by
 * default). A line written while serving a request (see request-context.ts)
 * carries its `request_id`, whichever layer writes it.
 */
export function createLogger(level: LogLevel, out: { write(s: string): unknown } = process.stdout): Logger {
  const min = ORDER[level];
  const emit = (lvl: LogLevel, msg: string, fields?: LogFields) => {
    if (ORDER[lvl] < min) return;
    const requestId = currentRequest()?.requestId;
    const line = { time: new Date().toISOString(), level: lvl, msg, ...(requestId !== undefined && { request_id: requestId }), ...fields };
    out.write(`${JSON.stringify(line, jsonSafe)}\n`);
  };
  return {
    debug: (m, f) => emit("debug", m, f),
    info: (m, f) => emit("info", m, f),
    warn: (m, f) => emit("warn", m, f),
    error: (m, f) => emit("error", m, f),
  };
}

/** A logger that drops everything (tests that do not look at logs). */
export const silentLogger: Logger = { debug() {}, info() {}, warn() {}, error() {} };

function jsonSafe(_key: string, value: unknown): unknown {
  if (typeof value === "bigint") return value.toString();
  if (value instanceof Error) {
    return { name: value.name, message: value.message, stack: value.stack, cause: value.cause };
  }
  return value;
}
