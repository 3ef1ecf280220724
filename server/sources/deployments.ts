import type { ServiceImpl } from "@connectrpc/connect";
import type { SourceService } from "../../gen/sources/v1/sources_pb.js";
import type { ServiceContext } from "../context.js";
import { authorize } from "../auth/scope.js";
import { inTransaction } from "../db/transaction.js";
import {
  findActiveDeployment,
  findDeployment,
  findDeploymentByIdempotencyKey,
  insertDeployment,
  insertToolDefinitions,
  listDeploymentsPage,
  listToolDefinitions,
  lockProjectForDeployment,
  withToolUrns,
  type DeploymentWithUrns,
} from "../model/deployments.js";
import { notFound } from "../platform/errors.js";
import { COUNTER_KEY, pageRequest, readPage } from "../platform/pagination.js";
import { uuid } from "../platform/validate.js";
import { validateCreateDeployment } from "./deployment-input.js";
import { toDeployment } from "./mapping.js";

type DeploymentMethods = Pick<ServiceImpl<typeof SourceService>, "createDeployment" | "getDeployment" | "listDeployments">;

/** The deployment RPCs of SourceService. */
export function deploymentMethods({ db, tenancy }: ServiceContext): DeploymentMethods {
  return {
    async createDeployment(req, ctx) {
      const { project } = await authorize(tenancy, ctx, req.project);
      const input = validateCreateDeployment(req);
      const deployment = await inTransaction(db, async (trx): Promise<DeploymentWithUrns> => {
        await lockProjectForDeployment(trx, project.id);
        const key = input.idempotencyKey;
        const earlier = key === undefined ? undefined : await findDeploymentByIdempotencyKey(trx, project.id, key);
        if (earlier) return (await withToolUrns(trx, [earlier]))[0]!;
        const created = await insertDeployment(trx, project.id, key);
        if (!created) {
          // Only reachable if a writer skipped the project lock: the unique index
          // on the key still guarantees one deployment per key.
          const raced = key === undefined ? undefined : await findDeploymentByIdempotencyKey(trx, project.id, key);
          if (!raced) throw new Error("deployment insert skipped without an idempotency key conflict");
          return (await withToolUrns(trx, [raced]))[0]!;
        }
        await insertToolDefinitions(trx, project.id, created.id, input.tools);
        return { ...created, toolUrns: input.tools.map((t) => t.tool_urn) };
      });
      return { deployment: toDeployment(deployment) };
    },

    async getDeployment(req, ctx) {
      const { project } = await authorize(tenancy, ctx, req.project);
      const id = req.id === "" ? undefined : uuid("id", req.id);
      // Deployments and their tools are written in one transaction and never
      // change, so two plain reads are as consistent as one transaction.
      const row = id === undefined ? await findActiveDeployment(db, project.id) : await findDeployment(db, project.id, id);
      if (!row) throw notFound(id === undefined ? `project "${project.slug}" has no deployment yet` : `deployment "${id}" not found`);
      const tools = await listToolDefinitions(db, row.id);
      return { deployment: toDeployment({ ...row, toolUrns: tools.map((t) => t.tool_urn) }, tools) };
    },

    async listDeployments(req, ctx) {
      const { project } = await authorize(tenancy, ctx, req.project);
      const { items, nextPageToken } = await readPage(
        pageRequest(req),
        `ListDeployments:${project.id}`,
        COUNTER_KEY,
        (before, limit) => listDeploymentsPage(db, project.id, before, limit),
        (r) => r.seq,
      );
      const deployments = await withToolUrns(db, items);
      return { deployments: deployments.map((d) => toDeployment(d)), nextPageToken };
    },
  };
}
