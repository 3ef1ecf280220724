import { createHash } from "node:crypto";
import { readdir, readFile, stat } from "node:fs/promises";
import type * as http from "node:http";
import type * as http2 from "node:http2";
import { extname, join } from "node:path";
import { promisify } from "node:util";
import { brotliCompress, constants as zlibConstants, gzip } from "node:zlib";
import type { Logger } from "./logging.js";

type Request = http.IncomingMessage | http2.Http2ServerRequest;
type Response = http.ServerResponse | http2.Http2ServerResponse;

/** Where the console lives on the service port. */
export const CONSOLE_PREFIX = "/console/";

/** What the console's static route needs to know. */
export interface ConsoleOptions {
  /** The production build (Vite's outDir): index.html and assets/. */
  dir: string;
  /** What GET /console/config.json tells the app: the gateway's base URL ("" = unknown). */
  gatewayPublicUrl: string;
  logger?: Logger;
}

/**
 * Sent with every console response. The build loads only its own scripts and
 * styles and calls only this origin (the API is on the same port), so nothing
 * else is allowed; the page may not be framed (clickjacking a publish button).
 */
export const CONSOLE_SECURITY_HEADERS: Readonly<Record<string, string>> = {
  "content-security-policy":
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; font-src 'self'; " +
    "object-src 'none'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'",
  "x-content-type-options": "nosniff",
  "referrer-policy": "no-referrer",
  "x-frame-options": "DENY",
};

/** Hashed file names: a file's content never changes under its name. */
const IMMUTABLE = "public, max-age=31536000, immutable";
/** index.html and the rest: revalidated on every use (by ETag), so a new build shows on the next load. */
const REVALIDATE = "no-cache";

const CONTENT_TYPES: Readonly<Record<string, string>> = {
  ".html": "text/html; charset=utf-8",
  ".js": "text/javascript; charset=utf-8",
  ".mjs": "text/javascript; charset=utf-8",
  ".css": "text/css; charset=utf-8",
  ".map": "application/json; charset=utf-8",
  ".json": "application/json; charset=utf-8",
  ".webmanifest": "application/manifest+json; charset=utf-8",
  ".txt": "text/plain; charset=utf-8",
  ".svg": "image/svg+xml",
  ".png": "image/png",
  ".jpg": "image/jpeg",
  ".jpeg": "image/jpeg",
  ".webp": "image/webp",
  ".gif": "image/gif",
  ".ico": "image/x-icon",
  ".woff2": "font/woff2",
  ".woff": "font/woff",
};
const COMPRESSIBLE = new Set([".html", ".js", ".mjs", ".css", ".map", ".json", ".webmanifest", ".txt", ".svg", ".ico"]);
/** Below this, compressing saves less than the headers it adds. */
const COMPRESS_MIN_BYTES = 1024;
/** How often a request looks whether index.html changed (a new build), at most. */
const RECHECK_MS = 1_000;

type Encoding = "br" | "gzip";
const compress: Record<Encoding, (body: Buffer) => Promise<Buffer>> = {
  // Quality 9: within a few per cent of 11 for a bundle, and ten times faster to make.
  br: (body) => promisify(brotliCompress)(body, { params: { [zlibConstants.BROTLI_PARAM_QUALITY]: 9 } }),
  gzip: (body) => promisify(gzip)(body, { level: 9 }),
};

/** One file of the build, held in memory with its compressed forms once asked for. */
interface ConsoleFile {
  body: Buffer;
  contentType: string;
  etag: string;
  compressible: boolean;
  encoded: Map<Encoding, Promise<Buffer | undefined>>;
}

/** The build as read from disk: relative path (with `/`) → file. */
type Build = ReadonlyMap<string, ConsoleFile>;

/**
 * Serves the console's production build under /console/: files from memory
 * (read on first use, read again when a new build replaces index.html), every
 * other path under it as index.html, since the app routes by path. A console
 * that was never built answers 503 saying how to build it; the RPCs do not
 * depend on it.
 */
export function consoleRoute(options: ConsoleOptions): (req: Request, res: Response, path: string) => void {
  const files = buildLoader(options.dir, options.logger);
  const configJson = Buffer.from(JSON.stringify({ gatewayUrl: options.gatewayPublicUrl }));
  return (req, res, path) => {
    void serve(req, res, path).catch((err: unknown) => {
      options.logger?.error("console request failed", { path, error: String(err) });
      if (!res.headersSent) send(res, req, 500, { "content-type": "text/plain; charset=utf-8", "cache-control": "no-store" }, "internal error\n");
      else res.destroy();
    });
  };

  async function serve(req: Request, res: Response, path: string): Promise<void> {
    const plain = (status: number, text: string, extra: Record<string, string> = {}) =>
      send(res, req, status, { "content-type": "text/plain; charset=utf-8", "cache-control": "no-store", ...extra }, `${text}\n`);
    if (req.method !== "GET" && req.method !== "HEAD") return plain(405, "method not allowed", { allow: "GET, HEAD" });
    if (path === "/console") {
      const query = (req.url ?? "").slice(path.length);
      return send(res, req, 308, { location: `${CONSOLE_PREFIX}${query.startsWith("?") ? query : ""}`, "cache-control": "no-store" }, "");
    }
    const rel = relativePath(path.slice(CONSOLE_PREFIX.length));
    if (rel === undefined) return plain(400, "bad path");
    if (rel === "config.json") {
      return send(res, req, 200, { "content-type": "application/json; charset=utf-8", "cache-control": REVALIDATE }, configJson);
    }
    const build = await files();
    if (build === undefined) return plain(503, "the console is not built: run `make console` (or `make run`, which builds it when missing)");
    const file = build.get(rel);
    if (file === undefined && (rel.startsWith("assets/") || rel === "assets")) return plain(404, "not found");
    const index = build.get("index.html");
    if (index === undefined) return plain(503, "the console is not built: run `make console`");
    const served = file ?? index;
    const headers: Record<string, string> = {
      "content-type": served.contentType,
      "cache-control": file !== undefined && rel.startsWith("assets/") ? IMMUTABLE : REVALIDATE,
      etag: served.etag,
    };
    if (served.compressible) headers["vary"] = "Accept-Encoding";
    if (etagMatches(req.headers["if-none-match"], served.etag)) return send(res, req, 304, headers, "");
    const encoding = served.compressible ? acceptedEncoding(req.headers["accept-encoding"]) : undefined;
    const encoded = encoding === undefined ? undefined : await encodedBody(served, encoding);
    if (encoding !== undefined && encoded !== undefined) headers["content-encoding"] = encoding;
    send(res, req, 200, headers, encoded ?? served.body);
  }
}

/** Whether a path is the console's (the route answers it); `/consolex` is not. */
export function isConsolePath(path: string): boolean {
  return path === "/console" || path.startsWith(CONSOLE_PREFIX);
}

function send(res: Response, req: Request, status: number, headers: Record<string, string>, body: Buffer | string): void {
  const bytes = typeof body === "string" ? Buffer.from(body) : body;
  res.writeHead(status, { ...CONSOLE_SECURITY_HEADERS, ...headers, ...(status === 304 ? {} : { "content-length": String(bytes.length) }) });
  // HTTP/1.1 drops a HEAD body by itself; the HTTP/2 compatibility layer would send it.
  if (req.method === "HEAD" || status === 304 || bytes.length === 0) res.end();
  else res.end(bytes);
}

/**
 * The file a path under /console/ names, decoded, as a key of the build; "" is
 * the app's root. Undefined for a path that could climb out of the build or
 * hide a character file systems treat specially (`..`, `.`, backslashes, NUL,
 * bad percent-encoding), whether written plainly or percent-encoded. Files are
 * only ever looked up in memory, so this is a second wall, not the only one.
 */
export function relativePath(raw: string): string | undefined {
  let decoded: string;
  try {
    decoded = decodeURIComponent(raw);
  } catch {
    return undefined;
  }
  if (/[\\\0]/.test(decoded)) return undefined;
  const segments = decoded.split("/");
  if (segments.some((s) => s === ".." || s === ".")) return undefined;
  return decoded;
}

/** The encoding to send given Accept-Encoding: br, else gzip, else none (q=0 refuses one). */
export function acceptedEncoding(header: string | string[] | undefined): Encoding | undefined {
  const accepted = new Map<string, number>();
  for (const part of (Array.isArray(header) ? header.join(",") : (header ?? "")).split(",")) {
    const [name, ...params] = part.trim().toLowerCase().split(";");
    if (!name) continue;
    const q = params.map((p) => /^\s*q=([\d.]+)\s*$/.exec(p)?.[1]).find((v) => v !== undefined);
    accepted.set(name, q === undefined ? 1 : Number(q));
  }
  const weight = (e: Encoding) => accepted.get(e) ?? accepted.get("*") ?? 0;
  if (weight("br") > 0) return "br";
  if (weight("gzip") > 0) return "gzip";
  return undefined;
}

function etagMatches(header: string | string[] | undefined, etag: string): boolean {
  if (header === undefined) return false;
  const tags = (Array.isArray(header) ? header.join(",") : header).split(",").map((t) => t.trim());
  // Weak comparison (RFC 9110 §13.1.2), as If-None-Match asks.
  const bare = (t: string) => t.replace(/^W\//, "");
  return tags.some((t) => t === "*" || bare(t) === bare(etag));
}

/** `file`'s body in `encoding`, made once; undefined when it would not be smaller. */
function encodedBody(file: ConsoleFile, encoding: Encoding): Promise<Buffer | undefined> {
  let made = file.encoded.get(encoding);
  if (made === undefined) {
    made = compress[encoding](file.body).then((b) => (b.length < file.body.length ? b : undefined));
    file.encoded.set(encoding, made);
  }
  return made;
}

/**
 * The build, read whole on first use. A request at most once a second looks
 * at index.html (Vite writes it last) and reads the build again when it
 * changed or appeared: `make console` on a running service shows on reload.
 */
function buildLoader(dir: string, logger: Logger | undefined): () => Promise<Build | undefined> {
  let current: Promise<Build | undefined> | undefined;
  let stamp: string | undefined;
  let checkedAt = 0;
  return async () => {
    const now = Date.now();
    if (current !== undefined && now - checkedAt < RECHECK_MS) return current;
    checkedAt = now;
    const seen = await stat(join(dir, "index.html")).then(
      (s) => `${s.mtimeMs}:${s.size}`,
      () => undefined,
    );
    if (current === undefined || seen !== stamp) {
      stamp = seen;
      current =
        seen === undefined
          ? Promise.resolve(undefined)
          : readBuild(dir).then(
              (build) => {
                logger?.info("console build loaded", { dir, files: build.size });
                return build;
              },
              (err: unknown) => {
                // Read again on the next check (a build being written, say).
                stamp = undefined;
                logger?.warn("console build unreadable", { dir, error: String(err) });
                return undefined;
              },
            );
    }
    return current;
  };
}

/** Every regular file under `dir` (symbolic links are not followed), keyed by its relative path with `/`. */
async function readBuild(dir: string): Promise<Build> {
  const build = new Map<string, ConsoleFile>();
  const walk = async (rel: string): Promise<void> => {
    for (const entry of await readdir(join(dir, rel), { withFileTypes: true })) {
      const path = rel === "" ? entry.name : `${rel}/${entry.name}`;
      if (entry.isDirectory()) await walk(path);
      else if (entry.isFile()) {
        const body = await readFile(join(dir, path));
        const ext = extname(entry.name).toLowerCase();
        build.set(path, {
          body,
          contentType: CONTENT_TYPES[ext] ?? "application/octet-stream",
          // Weak: the same tag stands for the identity and the compressed forms.
          etag: `W/"${createHash("sha256").update(body).digest("base64url").slice(0, 27)}"`,
          compressible: COMPRESSIBLE.has(ext) && body.length >= COMPRESS_MIN_BYTES,
          encoded: new Map(),
        });
      }
    }
  };
  await walk("");
  return build;
}
