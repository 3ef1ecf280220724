import { createFileRegistry, fromBinary } from "@bufbuild/protobuf";
import { create } from "@bufbuild/protobuf";
import { FileDescriptorProtoSchema, FileDescriptorSetSchema, type FileDescriptorProto } from "@bufbuild/protobuf/wkt";
import { describe, expect, it } from "vitest";
import * as v1 from "../gen/grpc/reflection/v1/reflection_pb.js";
import * as v1alpha from "../gen/grpc/reflection/v1alpha/reflection_pb.js";
import { useTestServer } from "../server/testing/use-test-server.js";

const { server } = useTestServer();

/** Files with every import before its importer; throws when an import is missing from the answer. */
function dependencyOrder(files: FileDescriptorProto[]): FileDescriptorProto[] {
  const byName = new Map(files.map((f) => [f.name, f]));
  const out: FileDescriptorProto[] = [];
  const seen = new Set<string>();
  const visit = (f: FileDescriptorProto) => {
    if (seen.has(f.name)) return;
    seen.add(f.name);
    for (const name of f.dependency) {
      const dep = byName.get(name);
      if (!dep) throw new Error(`import ${name} of ${f.name} is missing from the reflection answer`);
      visit(dep);
    }
    out.push(f);
  };
  files.forEach(visit);
  return out;
}

const OUR_SERVICES = [
  "sources.v1.SourceService",
  "toolsets.v1.ToolsetService",
  "releases.v1.ReleaseService",
  "accounts.v1.AccountService",
  "grpc.health.v1.Health",
];

// Both versions have identical shapes; the test runs the same steps through each generated client.
const versions = [
  { name: "v1", service: v1.ServerReflection },
  { name: "v1alpha", service: v1alpha.ServerReflection },
] as const;

describe.each(versions)("server reflection $name", ({ service }) => {
  async function ask(requests: object[]) {
    const client = server.client(service as typeof v1.ServerReflection, "grpc");
    async function* send() {
      for (const r of requests) yield r as v1.ServerReflectionRequest;
    }
    const out = [];
    for await (const res of client.serverReflectionInfo(send())) out.push(res);
    return out;
  }

  it("lists the services", async () => {
    const [res] = await ask([{ messageRequest: { case: "listServices", value: "" } }]);
    expect(res?.messageResponse.case).toBe("listServicesResponse");
    const names = res?.messageResponse.case === "listServicesResponse" ? res.messageResponse.value.service.map((s) => s.name) : [];
    for (const s of OUR_SERVICES) expect(names).toContain(s);
    expect(names).toContain("grpc.reflection.v1.ServerReflection");
  });

  it.each([
    "toolsets.v1.ToolsetService",
    "releases.v1.ReleaseService",
    "sources.v1.SourceService",
    "accounts.v1.AccountService",
    "accounts.v1.AccountService.GetCaller",
    "releases.v1.ReleaseService.PublishStagingVersion",
  ])("returns file descriptors for %s that resolve all their imports", async (symbol) => {
    const [res] = await ask([{ messageRequest: { case: "fileContainingSymbol", value: symbol } }]);
    expect(res?.messageResponse.case).toBe("fileDescriptorResponse");
    if (res?.messageResponse.case !== "fileDescriptorResponse") return;
    const files = res.messageResponse.value.fileDescriptorProto.map((b) => fromBinary(FileDescriptorProtoSchema, b));
    expect(files[0]?.name).toBe(
      symbol.startsWith("sources") ? "sources/v1/sources.proto" : `${symbol.split(".")[0]}/v1/${symbol.split(".")[0]}.proto`,
    );
    const registry = createFileRegistry(create(FileDescriptorSetSchema, { file: dependencyOrder(files) }));
    const serviceName = symbol.split(".").slice(0, 3).join(".");
    expect(registry.getService(serviceName)?.methods.length).toBeGreaterThan(0);
    expect(files.map((f) => f.name)).toContain("google/protobuf/timestamp.proto");
  });

  it("answers file_by_filename and reports unknown symbols as NOT_FOUND", async () => {
    const [byName, unknown] = await ask([
      { messageRequest: { case: "fileByFilename", value: "toolsets/v1/toolsets.proto" } },
      { messageRequest: { case: "fileContainingSymbol", value: "no.such.Symbol" } },
    ]);
    expect(byName?.messageResponse.case).toBe("fileDescriptorResponse");
    expect(unknown?.messageResponse.case).toBe("errorResponse");
    if (unknown?.messageResponse.case === "errorResponse") expect(unknown.messageResponse.value.errorCode).toBe(5);
  });
});
