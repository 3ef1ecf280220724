import { toBinary, type DescFile, type DescService } from "@bufbuild/protobuf";
import { FileDescriptorProtoSchema } from "@bufbuild/protobuf/wkt";
import type { ConnectRouter, HandlerContext } from "@connectrpc/connect";
import * as v1 from "../../gen/grpc/reflection/v1/reflection_pb.js";
import * as v1alpha from "../../gen/grpc/reflection/v1alpha/reflection_pb.js";

// The two published versions have the same messages under different packages, so
// one implementation answers both with plain init objects.
type ReflectionRequest = v1.ServerReflectionRequest | v1alpha.ServerReflectionRequest;

/** The request as a plain init object, so either version's response can echo it. */
interface PlainRequest {
  host: string;
  messageRequest:
    | { case: "fileByFilename" | "fileContainingSymbol" | "allExtensionNumbersOfType" | "listServices"; value: string }
    | { case: "fileContainingExtension"; value: { containingType: string; extensionNumber: number } }
    | { case: undefined; value?: undefined };
}

interface ReflectionAnswer {
  validHost: string;
  originalRequest: PlainRequest;
  messageResponse:
    | { case: "fileDescriptorResponse"; value: { fileDescriptorProto: Uint8Array[] } }
    | { case: "listServicesResponse"; value: { service: { name: string }[] } }
    | { case: "allExtensionNumbersResponse"; value: { baseTypeName: string; extensionNumber: number[] } }
    | { case: "errorResponse"; value: { errorCode: number; errorMessage: string } };
}

const NOT_FOUND = 5; // google.rpc.Code.NOT_FOUND
const INVALID_ARGUMENT = 3;

/** Serves grpc.reflection.v1 and v1alpha ServerReflection for the given services. */
export function registerReflection(router: ConnectRouter, services: readonly DescService[]): void {
  const index = new ReflectionIndex(services);
  const serve = async function* (requests: AsyncIterable<ReflectionRequest>, ctx: HandlerContext) {
    // A client may keep the stream open for the whole session (grpcui, Postman):
    // it ends when shutdown begins, not when the client lets go.
    for await (const req of untilAborted(requests, ctx.signal)) yield index.answer(plain(req));
  };
  router.service(v1.ServerReflection, { serverReflectionInfo: serve });
  router.service(v1alpha.ServerReflection, { serverReflectionInfo: serve });
}

/** The items of `source` until it ends or `signal` aborts, whichever comes first. */
async function* untilAborted<T>(source: AsyncIterable<T>, signal: AbortSignal): AsyncGenerator<T> {
  const it = source[Symbol.asyncIterator]();
  let onAbort = () => {};
  const aborted = new Promise<IteratorReturnResult<undefined>>((resolve) => {
    onAbort = () => resolve({ done: true, value: undefined });
    if (signal.aborted) onAbort();
    else signal.addEventListener("abort", onAbort, { once: true });
  });
  try {
    for (;;) {
      const next = await Promise.race([it.next(), aborted]);
      if (next.done === true) return;
      yield next.value;
    }
  } finally {
    signal.removeEventListener("abort", onAbort);
    void it.return?.()?.catch(() => undefined);
  }
}

function plain(req: ReflectionRequest): PlainRequest {
  const r = req.messageRequest;
  if (r.case === "fileContainingExtension") {
    return {
      host: req.host,
      messageRequest: { case: r.case, value: { containingType: r.value.containingType, extensionNumber: r.value.extensionNumber } },
    };
  }
  return { host: req.host, messageRequest: r };
}

class ReflectionIndex {
  private readonly files = new Map<string, DescFile>();
  private readonly symbols = new Map<string, DescFile>();
  private readonly serviceNames: string[];

  constructor(services: readonly DescService[]) {
    this.serviceNames = [...services.map((s) => s.typeName), v1.ServerReflection.typeName, v1alpha.ServerReflection.typeName];
    for (const s of services) this.addFile(s.file);
    this.addFile(v1.file_grpc_reflection_v1_reflection);
    this.addFile(v1alpha.file_grpc_reflection_v1alpha_reflection);
  }

  private addFile(file: DescFile): void {
    if (this.files.has(file.proto.name)) return;
    this.files.set(file.proto.name, file);
    for (const dep of file.dependencies) this.addFile(dep);
    const pkg = file.proto.package;
    const add = (name: string) => this.symbols.set(pkg ? `${pkg}.${name}` : name, file);
    for (const s of file.services) {
      this.symbols.set(s.typeName, file);
      for (const m of s.methods) this.symbols.set(`${s.typeName}.${m.name}`, file);
    }
    const walk = (messages: typeof file.messages) => {
      for (const m of messages) {
        this.symbols.set(m.typeName, file);
        for (const f of m.fields) this.symbols.set(`${m.typeName}.${f.name}`, file);
        for (const e of m.nestedEnums) this.symbols.set(e.typeName, file);
        walk(m.nestedMessages);
      }
    };
    walk(file.messages);
    for (const e of file.enums) this.symbols.set(e.typeName, file);
    for (const x of file.extensions) add(x.name);
  }

  /** The file and every file it imports, transitively: clients need them to resolve types. */
  private withDependencies(file: DescFile): Uint8Array[] {
    const seen = new Set<string>();
    const out: Uint8Array[] = [];
    const visit = (f: DescFile) => {
      if (seen.has(f.proto.name)) return;
      seen.add(f.proto.name);
      out.push(toBinary(FileDescriptorProtoSchema, f.proto));
      for (const d of f.dependencies) visit(d);
    };
    visit(file);
    return out;
  }

  answer(req: PlainRequest): ReflectionAnswer {
    const base = { validHost: req.host, originalRequest: req };
    const error = (errorCode: number, errorMessage: string): ReflectionAnswer => ({
      ...base,
      messageResponse: { case: "errorResponse", value: { errorCode, errorMessage } },
    });
    const files = (file: DescFile | undefined, what: string): ReflectionAnswer =>
      file
        ? { ...base, messageResponse: { case: "fileDescriptorResponse", value: { fileDescriptorProto: this.withDependencies(file) } } }
        : error(NOT_FOUND, `${what} not found`);
    const r = req.messageRequest;
    switch (r.case) {
      case "listServices":
        return { ...base, messageResponse: { case: "listServicesResponse", value: { service: this.serviceNames.map((name) => ({ name })) } } };
      case "fileByFilename":
        return files(this.files.get(r.value), `file ${r.value}`);
      case "fileContainingSymbol":
        return files(this.symbols.get(r.value.replace(/^\./, "")), `symbol ${r.value}`);
      case "fileContainingExtension":
        return error(NOT_FOUND, `extension ${r.value.extensionNumber} of ${r.value.containingType} not found`);
      case "allExtensionNumbersOfType":
        return this.symbols.has(r.value)
          ? { ...base, messageResponse: { case: "allExtensionNumbersResponse", value: { baseTypeName: r.value, extensionNumber: [] } } }
          : error(NOT_FOUND, `type ${r.value} not found`);
      case undefined:
        return error(INVALID_ARGUMENT, "empty reflection request");
      default: {
        const unreachable: never = r;
        return error(INVALID_ARGUMENT, `unsupported request ${String(unreachable)}`);
      }
    }
  }
}
