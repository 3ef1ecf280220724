import { create } from "@bufbuild/protobuf";
import { Code, ConnectError, type ServiceImpl } from "@connectrpc/connect";
import {
  ResolveToolsetResponseSchema,
  WatchToolsetResponseSchema,
  type ReleaseService,
  type ResolvedToolset,
} from "../../gen/releases/v1/releases_pb.js";
import type { ServedResolve, ServiceContext } from "../context.js";
import { toConnectError } from "../platform/errors.js";
import { wantsBinary, withUnknownField } from "../platform/wire.js";
import { addressKey, resolveAddress, servedResolve } from "./served-resolve.js";

/**
 * ResolveToolset: what an MCP endpoint serves, from memory at steady state.
 * WatchToolset: the same, pushed on every change.
 *
 * A binary response carries the resolved toolset as bytes encoded once per
 * state (see platform/wire.ts): protobuf's Struct encoding costs far more than
 * the JSON of the same schemas, and would otherwise be paid on every response.
 */
export function resolveToolsetMethods(context: ServiceContext): Pick<ServiceImpl<typeof ReleaseService>, "resolveToolset" | "watchToolset"> {
  return {
    async resolveToolset(req, ctx) {
      const address = await resolveAddress(context, req, ctx);
      const entry = await servedResolve(context, address);
      if (req.ifNoneMatch !== "" && req.ifNoneMatch === entry.message.etag) return { notModified: true };
      if (wantsBinary(ctx)) return withUnknownField(create(ResolveToolsetResponseSchema), entry.resolvedField());
      return { resolved: entry.message, notModified: false };
    },

    async *watchToolset(req, ctx) {
      const address = await resolveAddress(context, req, ctx);
      const binary = wantsBinary(ctx);
      const full = (entry: ServedResolve) => {
        const base = create(WatchToolsetResponseSchema, { etag: entry.message.etag });
        return binary ? withUnknownField(base, entry.resolvedField()) : { ...base, resolved: entry.message };
      };
      // Keyed and anonymous watchers of an endpoint share its topic, so the topic
      // loads what a key sees; whether it is public is checked per watcher.
      const topicAddress = { ...address, anonymous: undefined };
      const subscription = context.watches.subscribe(
        addressKey(address),
        async () => {
          const value = await servedResolve(context, topicAddress);
          return {
            value,
            tags: { organizationId: address.project.organizationId, projectId: address.project.id, toolsetId: value.message.toolsetId },
          };
        },
        { tags: address.authTags, check: () => address.recheck() },
      );
      try {
        let last: ResolvedToolset | undefined;
        for (;;) {
          const event = await subscription.next(ctx.signal, context.watchKeepaliveMs);
          if (event === undefined) break;
          if (event === "timeout") {
            yield { keepalive: true };
            continue;
          }
          if ("error" in event) {
            // A deleted endpoint and a private one look the same to an anonymous watcher.
            if (address.anonymous && toConnectError(event.error).error.code === Code.NotFound)
              throw new ConnectError(address.anonymous.notFound, Code.NotFound);
            throw event.error;
          }
          const entry = event.value;
          // An anonymous watcher loses an endpoint that stops being public as if it were deleted.
          if (address.anonymous && !(entry.message.mcpEnabled && entry.message.mcpIsPublic))
            throw new ConnectError(address.anonymous.notFound, Code.NotFound);
          if (last === undefined) {
            last = entry.message;
            yield req.ifNoneMatch !== "" && req.ifNoneMatch === entry.message.etag ? { notModified: true, etag: entry.message.etag } : full(entry);
          } else if (changed(last, entry.message)) {
            last = entry.message;
            yield full(entry);
          }
        }
      } finally {
        subscription.close();
      }
      // Shutting down: tell the client to watch again (elsewhere). Otherwise the client went away.
      if (context.watches.closed) throw new ConnectError("the server is shutting down; watch again", Code.Unavailable);
      throw new ConnectError("the client ended the watch", Code.Canceled);
    },
  };
}

/** Whether a watcher must hear of the new state: its content (etag) or its endpoint settings changed. */
function changed(a: ResolvedToolset, b: ResolvedToolset): boolean {
  return a.etag !== b.etag || a.mcpSlug !== b.mcpSlug || a.mcpEnabled !== b.mcpEnabled || a.mcpIsPublic !== b.mcpIsPublic;
}
