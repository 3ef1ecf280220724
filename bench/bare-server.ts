// The P1 baseline: a bare connect-node server (connectNodeAdapter, plain
// node:http for HTTP/1.1 and node:http2 for h2c, on two ports) whose
// ResolveToolset answers a precomputed ResolveToolsetResponse — the real
// server's, fetched once — or `not_modified` when if_none_match is its etag.
// No auth, no database, no interceptors: what connect-node itself costs.
// A binary response carries `resolved` encoded once (as the bytes of an
// unknown field 1, which toBinary copies verbatim: the trick of
// server/platform/wire.ts, written out here), since protobuf-es takes tens of
// milliseconds to encode 200 tools' Struct schemas; BARE_ENCODE_EACH=1 encodes
// every response instead. Started by bench/lib/processes.ts as a child process.
import { readFileSync } from "node:fs";
import * as http from "node:http";
import * as http2 from "node:http2";
import { create, fromBinary, toBinary } from "@bufbuild/protobuf";
import { BinaryWriter, WireType } from "@bufbuild/protobuf/wire";
import type { ConnectRouter } from "@connectrpc/connect";
import { connectNodeAdapter } from "@connectrpc/connect-node";
import { ReleaseService, ResolvedToolsetSchema, ResolveToolsetResponseSchema } from "../gen/releases/v1/releases_pb.js";

const env = (name: string) => {
  const v = process.env[name];
  if (!v) throw new Error(`${name} is required`);
  return v;
};

const full = fromBinary(ResolveToolsetResponseSchema, readFileSync(env("BARE_RESPONSE")));
const etag = full.resolved?.etag ?? "";

// The same response for binary requests, `resolved` pre-encoded: field 1's
// unknown-field data is its length prefix and bytes.
const preEncoded = create(ResolveToolsetResponseSchema, {});
preEncoded.$unknown = [
  { no: 1, wireType: WireType.LengthDelimited, data: new BinaryWriter().bytes(toBinary(ResolvedToolsetSchema, full.resolved!)).finish() },
];
const encodeEach = process.env["BARE_ENCODE_EACH"] === "1";
const BINARY = /^application\/(?:grpc(?:-web)?(?:\+proto)?|proto|connect\+proto)$/i;

const routes = (router: ConnectRouter) =>
  router.service(ReleaseService, {
    resolveToolset: (req, ctx) => {
      if (req.ifNoneMatch !== "" && req.ifNoneMatch === etag) return { notModified: true };
      return !encodeEach && BINARY.test(ctx.requestHeader.get("content-type") ?? "") ? preEncoded : full;
    },
  });
const adapter = connectNodeAdapter({ routes });

const h1 = http.createServer({ keepAliveTimeout: 5_000 }, adapter);
const h2 = http2.createServer({}, adapter);
await Promise.all([
  new Promise<void>((r) => h1.listen(Number(env("BARE_H1_PORT")), "127.0.0.1", r)),
  new Promise<void>((r) => h2.listen(Number(env("BARE_H2_PORT")), "127.0.0.1", r)),
]);
process.on("SIGTERM", () => process.exit(0));
process.on("SIGINT", () => process.exit(0));
console.log("bare server ready");
