import type { Kysely } from "kysely";
import type { Database } from "../../server/db/database.js";
import type { ScratchDatabase } from "../scratch.js";
import type { ChildServer } from "./processes.js";
import type { Clients, Seeded } from "./seed.js";

/** What the benchmarks share: one scratch database and one real server process over it. */
export interface BenchContext {
  database: ScratchDatabase;
  /** The bench process's own handle, for fixtures (tenants and keys). */
  db: Kysely<Database>;
  /** The server under test, a child process on `database`. */
  real: ChildServer;
  /** Clients of `real` over Connect JSON. */
  clients: Clients;
  /** The P1 toolset (TOOLS tools, published), on `real`. */
  main: Seeded;
}
