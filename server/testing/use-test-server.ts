import { afterAll, beforeAll } from "vitest";
import { cloneTemplateDatabase, type TestDatabase } from "./database.js";
import { driver, type Driver } from "./driver.js";
import { createTenant, type Tenant } from "./fixtures.js";
import { startTestServer, type ServerOverrides, type TestServer } from "./server.js";

/** What `useTestServer` sets up before a file's tests. */
export interface TestServerOptions {
  /** Settings that differ from `startTestServer`'s defaults. */
  server?: ServerOverrides;
  /** How many tenants to create: 1 gives `tenant`, 2 also `other` (another organization). Default 0. */
  tenants?: 0 | 1 | 2;
  /** Where the database comes from (default a clone of the migrated template). */
  database?: () => Promise<TestDatabase>;
  /** Runs on the database before the server starts, e.g. to seed an older schema and migrate it. */
  prepare?: (database: TestDatabase) => Promise<void>;
  /** The URL the server connects with (default the database's own), e.g. through a TCP proxy. */
  serverUrl?: (database: TestDatabase) => Promise<string>;
}

/**
 * A test file's database, server and tenants. Each is a stand-in until the
 * file's beforeAll has run: destructure them at the top of the file, use their
 * members inside tests and hooks; a member read earlier throws saying so.
 */
export interface TestContext {
  readonly database: TestDatabase;
  readonly server: TestServer;
  readonly tenant: Tenant;
  /** A second tenant, of another organization. */
  readonly other: Tenant;
  /** The driver as `tenant`'s producer over Connect JSON; `api.with(...)` for another key, project, protocol or tenant. */
  readonly api: Driver;
}

/**
 * Registers the file's beforeAll (clone a database, start a server on port 0,
 * create the tenants asked for) and afterAll (close the server, drop the
 * database); returns the handles the tests use.
 */
export function useTestServer(options: TestServerOptions = {}): TestContext {
  let database: TestDatabase | undefined;
  let server: TestServer | undefined;
  const tenants: Tenant[] = [];

  beforeAll(async () => {
    database = await (options.database ?? cloneTemplateDatabase)();
    await options.prepare?.(database);
    server = await startTestServer(options.serverUrl ? await options.serverUrl(database) : database.url, options.server);
    for (let i = 0; i < (options.tenants ?? 0); i++) tenants.push(await createTenant(server.db));
  });
  afterAll(async () => {
    await server?.close();
    await database?.drop();
  });

  const notYet = (what: string) => `useTestServer: the ${what} is not ready before the file's beforeAll has run; use it inside a test or a hook`;
  const noTenant = (what: string, n: number) => `useTestServer: no ${what}; pass { tenants: ${n} }`;
  const context = {
    database: standIn(() => database ?? fail(notYet("database"))),
    server: standIn(() => server ?? fail(notYet("server"))),
    tenant: standIn(() => tenants[0] ?? fail(server ? noTenant("tenant", 1) : notYet("tenant"))),
    other: standIn(() => tenants[1] ?? fail(server ? noTenant("other tenant", 2) : notYet("other tenant"))),
  };
  return { ...context, api: driver(context.server, context.tenant) };
}

/**
 * Registers the file's hooks for a database of its own (a clone of the migrated
 * template, dropped after the file) without a server: for tests that start
 * servers or processes themselves.
 */
export function useTestDatabase(): TestDatabase {
  let database: TestDatabase | undefined;
  beforeAll(async () => {
    database = await cloneTemplateDatabase();
  });
  afterAll(async () => {
    await database?.drop();
  });
  return standIn(
    () => database ?? fail("useTestDatabase: the database is not ready before the file's beforeAll has run; use it inside a test or a hook"),
  );
}

function fail(message: string): never {
  throw new Error(message);
}

/**
 * An object whose every member is read from `current()` at the time of use, so it
 * can be handed out before the value exists. Methods are bound to the value.
 */
function standIn<T extends object>(current: () => T): T {
  return new Proxy({} as T, {
    get(_target, key) {
      const value = current();
      const member: unknown = Reflect.get(value, key, value);
      return typeof member === "function" ? member.bind(value) : member;
    },
    set: (_target, key, member) => Reflect.set(current(), key, member),
    has: (_target, key) => Reflect.has(current(), key),
    ownKeys: () => Reflect.ownKeys(current()),
    getOwnPropertyDescriptor(_target, key) {
      const descriptor = Reflect.getOwnPropertyDescriptor(current(), key);
      // A proxy may only report a property it lacks as configurable.
      return descriptor && { ...descriptor, configurable: true };
    },
  });
}
