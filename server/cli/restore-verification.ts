import { randomBytes } from "node:crypto";
import { Code, ConnectError, createClient } from "@connectrpc/connect";
import { createConnectTransport } from "@connectrpc/connect-node";
import { ReleaseService, Target } from "../../gen/releases/v1/releases_pb.js";
import { createApiKey, revokeApiKey } from "../auth/keys.js";
import { createDb, createPool } from "../db/pool.js";

/**
 * Checks a restored database through a service running on it: every live
 * toolset resolves, and each one in staging mode serves its current release at
 * the etag recorded when that release was published (what MCP clients were
 * served before the backup). A toolset in iteration mode serves the latest
 * state of its project, which has no recorded etag: it must resolve, and its
 * etag is printed to compare with production's by hand if needed.
 *
 * It reads the toolsets from the database and resolves each through the service
 * with a consumer key per organization made for the check (named
 * `restore-check-…`) and revoked at the end. Each problem and each
 * iteration-mode etag is a line for `print`, then a summary; the answer is the
 * number of toolsets that failed. `server/cli/verify-restore.ts` is its command.
 */
export async function verifyRestore(databaseUrl: string, serviceUrl: string, print: (line: string) => void): Promise<number> {
  const db = createDb(createPool({ connectionString: databaseUrl, max: 2, statementTimeoutMs: 60_000 }));
  const releases = createClient(ReleaseService, createConnectTransport({ baseUrl: serviceUrl, httpVersion: "1.1" }));
  const keyName = `restore-check-${randomBytes(4).toString("hex")}`;
  const keys = new Map<string, string>();
  let failures = 0;
  let pinned = 0;
  let iterating = 0;
  let checked = 0;
  try {
    const toolsets = await db
      .selectFrom("toolsets as t")
      .innerJoin("projects as p", "p.id", "t.project_id")
      .innerJoin("organizations as o", "o.id", "p.organization_id")
      .leftJoin("toolset_releases as r", "r.id", "t.current_release_id")
      .select(["o.slug as org", "p.slug as project", "t.slug", "t.editing_mode", "r.release_number", "r.etag"])
      .where("t.parent_toolset_id", "is", null)
      .where("t.deleted_at", "is", null)
      .where("p.deleted_at", "is", null)
      .where("o.deleted_at", "is", null)
      .orderBy("o.slug")
      .orderBy("p.slug")
      .orderBy("t.slug")
      .execute();
    checked = toolsets.length;
    for (const t of toolsets) {
      let key = keys.get(t.org);
      if (key === undefined) {
        key = (await createApiKey(db, { org: t.org, scope: "consumer", name: keyName })).key;
        keys.set(t.org, key);
      }
      const where = `${t.org}/${t.project}/${t.slug}`;
      try {
        const { resolved } = await releases.resolveToolset(
          { project: t.project, slug: t.slug, target: Target.LIVE },
          { headers: { authorization: `Bearer ${key}` }, timeoutMs: 30_000 },
        );
        if (t.editing_mode !== "staging") {
          iterating++;
          print(`${where}: iteration mode, etag ${resolved?.etag ?? "?"}`);
        } else if (resolved?.etag === t.etag && resolved.releaseNumber === t.release_number) {
          pinned++;
        } else {
          failures++;
          print(`${where}: serves release ${resolved?.releaseNumber} etag ${resolved?.etag}; recorded: release ${t.release_number} etag ${t.etag}`);
        }
      } catch (e) {
        failures++;
        const err = ConnectError.from(e);
        print(`${where}: ${Code[err.code]} ${err.rawMessage}`);
      }
    }
  } finally {
    for (const org of keys.keys()) await revokeApiKey(db, { org, name: keyName }).catch(() => undefined);
    await db.destroy();
  }
  print(
    `checked ${checked} live toolsets: ${pinned} serve their current release at its recorded etag, ${iterating} in iteration mode resolved, ${failures} failed`,
  );
  return failures;
}
