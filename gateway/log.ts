import { currentRequestId } from "./request-log.js";

/** Structured fields of a log line; never keys, argument values or bodies. */
export type LogFields = Record<string, unknown>;

/** A JSON-lines logger, one object per line (the release service's format). */
export interface GatewayLogger {
  debug(msg: string, fields?: LogFields): void;
  info(msg: string, fields?: LogFields): void;
  warn(msg: string, fields?: LogFields): void;
  error(msg: string, fields?: LogFields): void;
}

const ORDER = { debug: 10, info: 20, warn: 30, error: 40 } as const;

/** Writes lines at `level` and above to `out` (stdout by default); a line written for a request carries its `request_id`. */
export function createGatewayLogger(level: keyof typeof ORDER, out: { write(s: string): unknown } = process.stdout): GatewayLogger {
  const min = ORDER[level];
  const emit = (lvl: keyof typeof ORDER, msg: string, fields?: LogFields) => {
    if (ORDER[lvl] < min) return;
    const requestId = currentRequestId();
    const line = { time: new Date().toISOString(), level: lvl, msg, ...(requestId !== undefined ? { request_id: requestId } : {}), ...fields };
    out.write(`${JSON.stringify(line, jsonSafe)}\n`);
  };
  return {
    debug: (m, f) => emit("debug", m, f),
    info: (m, f) => emit("info", m, f),
    warn: (m, f) => emit("warn", m, f),
    error: (m, f) => emit("error", m, f),
  };
}

/** A logger that drops everything. */
export const silentGatewayLogger: GatewayLogger = { debug() {}, info() {}, warn() {}, error() {} };

function jsonSafe(_key: string, value: unknown): unknown {
  if (typeof value === "bigint") return value.toString();
  if (value instanceof Error) return { name: value.name, message: value.message, stack: value.stack };
  return value;
}
