import { createServer, type IncomingMessage, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";

// The demo's upstream API (DESIGN §10, `make run`): a pet store the dev process
// serves on 127.0.0.1, in memory, whose operations the demo deploys as HTTP
// tools. Small on purpose; every answer is JSON, errors included.
//
//   GET    /pets[?tag=&limit=]   the pets, oldest first
//   GET    /pets/{petId}         one pet
//   POST   /pets {name, tag?}    adds a pet (201)
//   DELETE /pets/{petId}         removes a pet and returns it

/** A pet as the API returns it. */
export interface Pet {
  id: number;
  name: string;
  tag: string | null;
}

/** A running pet store. */
export interface PetStore {
  /** `http://127.0.0.1:<port>`, the tools' server_url. */
  readonly url: string;
  readonly port: number;
  /** Stops listening and ends open connections. */
  close(): Promise<void>;
}

/** The pets a new store starts with. */
export const INITIAL_PETS: readonly Omit<Pet, "id">[] = [
  { name: "Rex", tag: "dog" },
  { name: "Tom", tag: "cat" },
  { name: "Nemo", tag: "fish" },
];

const MAX_LIMIT = 100;
const MAX_BODY_BYTES = 16 * 1024;
const MAX_NAME = 100;
const MAX_TAG = 50;

/** An answer the handler sends as it is. */
class HttpError extends Error {
  constructor(
    readonly status: number,
    message: string,
  ) {
    super(message);
  }
}

function send(res: ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}): void {
  const text = JSON.stringify(body);
  res.writeHead(status, { "content-type": "application/json", "content-length": Buffer.byteLength(text), ...headers });
  res.end(text);
}

async function readJson(req: IncomingMessage): Promise<unknown> {
  const type = req.headers["content-type"] ?? "";
  if (!/^application\/json\b/i.test(type)) throw new HttpError(415, "the body must be JSON (content-type: application/json)");
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req as AsyncIterable<Buffer>) {
    size += chunk.length;
    if (size > MAX_BODY_BYTES) throw new HttpError(413, `the body must be at most ${MAX_BODY_BYTES} bytes`);
    chunks.push(chunk);
  }
  try {
    return JSON.parse(Buffer.concat(chunks).toString("utf8"));
  } catch {
    throw new HttpError(400, "the body is not valid JSON");
  }
}

function petId(raw: string): number {
  if (!/^[1-9]\d{0,8}$/.test(raw)) throw new HttpError(400, `petId must be a positive integer, got ${JSON.stringify(raw)}`);
  return Number(raw);
}

function newPet(body: unknown): Omit<Pet, "id"> {
  if (typeof body !== "object" || body === null || Array.isArray(body)) throw new HttpError(400, "the body must be a JSON object {name, tag?}");
  const { name, tag } = body as Record<string, unknown>;
  if (typeof name !== "string" || name.trim() === "" || name.length > MAX_NAME) {
    throw new HttpError(400, `name must be a non-empty string of at most ${MAX_NAME} characters`);
  }
  if (tag !== undefined && tag !== null && (typeof tag !== "string" || tag.length > MAX_TAG)) {
    throw new HttpError(400, `tag must be a string of at most ${MAX_TAG} characters`);
  }
  return { name: name.trim(), tag: typeof tag === "string" && tag !== "" ? tag : null };
}

/** The request handler of a store holding `pets` (exported for tests that need no socket). */
export function petStoreHandler(initial: readonly Omit<Pet, "id">[] = INITIAL_PETS) {
  const pets = new Map<number, Pet>();
  let nextId = 1;
  for (const p of initial) pets.set(nextId, { id: nextId++, ...p });

  const route = async (req: IncomingMessage, res: ServerResponse): Promise<void> => {
    const url = new URL(req.url ?? "/", "http://petstore");
    const method = req.method ?? "GET";
    const segments = url.pathname.split("/").filter(Boolean);
    if (segments[0] !== "pets" || segments.length > 2) throw new HttpError(404, `no route ${method} ${url.pathname}`);
    const allow = segments.length === 1 ? "GET, POST" : "GET, DELETE";
    if (segments.length === 1) {
      if (method === "GET") {
        const tag = url.searchParams.get("tag");
        const rawLimit = url.searchParams.get("limit");
        let limit = MAX_LIMIT;
        if (rawLimit !== null && rawLimit !== "") {
          if (!/^\d+$/.test(rawLimit) || Number(rawLimit) < 1 || Number(rawLimit) > MAX_LIMIT) {
            throw new HttpError(400, `limit must be an integer from 1 to ${MAX_LIMIT}, got ${JSON.stringify(rawLimit)}`);
          }
          limit = Number(rawLimit);
        }
        const list = [...pets.values()].filter((p) => tag === null || tag === "" || p.tag === tag).slice(0, limit);
        return send(res, 200, list);
      }
      if (method === "POST") {
        const pet = { id: nextId++, ...newPet(await readJson(req)) };
        pets.set(pet.id, pet);
        return send(res, 201, pet, { location: `/pets/${pet.id}` });
      }
    } else {
      const id = petId(segments[1]!);
      const pet = pets.get(id);
      if (method === "GET" || method === "DELETE") {
        if (!pet) throw new HttpError(404, `no pet with id ${id}`);
        if (method === "DELETE") pets.delete(id);
        return send(res, 200, pet);
      }
    }
    send(res, 405, { error: `method ${method} not allowed on ${url.pathname}`, status: 405 }, { allow });
  };

  return (req: IncomingMessage, res: ServerResponse): void => {
    route(req, res).catch((err: unknown) => {
      const status = err instanceof HttpError ? err.status : 500;
      const message = err instanceof HttpError ? err.message : "internal error";
      if (res.headersSent) res.destroy();
      else send(res, status, { error: message, status }, status === 413 ? { connection: "close" } : {});
    });
  };
}

/** Starts a pet store on `host`:`port` (port 0: any free one). Rejects when it cannot listen (say, EADDRINUSE). */
export async function startPetStore(port: number, host = "127.0.0.1"): Promise<PetStore> {
  const server = createServer(petStoreHandler());
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(port, host, () => {
      server.off("error", reject);
      resolve();
    });
  });
  const addr = server.address() as AddressInfo;
  const hostPart = addr.family === "IPv6" ? `[${addr.address}]` : addr.address;
  return {
    url: `http://${hostPart}:${addr.port}`,
    port: addr.port,
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}
