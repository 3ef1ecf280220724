import { promises as dns } from "node:dns";
import { isIPv4, isIPv6 } from "node:net";

/** An address a host name resolved to, as `dns.lookup` reports it. */
export interface ResolvedAddress {
  address: string;
  family: 4 | 6;
}

/** Resolves a host name to all its addresses (the guard's only DNS access). */
export type UpstreamLookup = (hostname: string) => Promise<ResolvedAddress[]>;

/** A host-name entry of GATEWAY_UPSTREAM_ALLOW: `api.example.com`, or `*.example.org` for its subdomains. */
export interface AllowedHost {
  /** Lower case, without the `*.` and without a trailing dot. */
  readonly name: string;
  readonly subdomains: boolean;
}

/** An IP address or CIDR entry of GATEWAY_UPSTREAM_ALLOW (an address is a block of full length). */
export interface AllowedNetwork {
  /** 4 or 16 bytes; IPv4-mapped IPv6 entries are stored as IPv4. */
  readonly bytes: Uint8Array;
  readonly prefix: number;
}

/** Parsed GATEWAY_UPSTREAM_ALLOW; empty means "any public address". */
export interface UpstreamAllowList {
  /** The entries as written, trimmed. */
  readonly entries: readonly string[];
  readonly hosts: readonly AllowedHost[];
  readonly networks: readonly AllowedNetwork[];
  /** The entry `public`: any public address passes, as with the empty list (so a list can add private upstreams to the default). */
  readonly anyPublic: boolean;
}

/** The gateway will not connect to this URL; the message says why and is safe to show the MCP client. */
export class UpstreamRefusedError extends Error {
  override name = "UpstreamRefusedError";
}

const LABEL = /^(?!-)[a-z0-9_-]{1,63}(?<!-)$/;

/**
 * Parses GATEWAY_UPSTREAM_ALLOW: comma-separated host names (`*.` prefix for
 * subdomains), IP addresses or CIDR blocks, IPv4 and IPv6, and the word
 * `public` (any public address, the default's rule). Blank items are
 * ignored; an empty string is the empty list. Throws naming the bad entry.
 */
export function parseUpstreamAllowList(value: string): UpstreamAllowList {
  const entries: string[] = [];
  const hosts: AllowedHost[] = [];
  const networks: AllowedNetwork[] = [];
  let anyPublic = false;
  for (const raw of value.split(",")) {
    const entry = raw.trim();
    if (entry === "") continue;
    entries.push(entry);
    if (entry.toLowerCase() === "public") {
      anyPublic = true;
      continue;
    }
    const bad = (why: string): Error => new Error(`GATEWAY_UPSTREAM_ALLOW entry "${entry}" ${why}`);
    const slash = entry.indexOf("/");
    const addressText = unbracket(slash === -1 ? entry : entry.slice(0, slash));
    const bytes = parseIp(addressText);
    if (slash !== -1 || bytes !== undefined) {
      if (bytes === undefined || addressText.includes("%")) throw bad("is not an IP address or CIDR block");
      const max = bytes.length * 8;
      let prefix = max;
      if (slash !== -1) {
        const prefixText = entry.slice(slash + 1);
        if (!/^[0-9]{1,3}$/.test(prefixText) || Number(prefixText) > max) {
          throw bad(`has a bad prefix length (0 to ${max} for IPv${bytes.length === 4 ? 4 : 6})`);
        }
        prefix = Number(prefixText);
      }
      networks.push(canonicalNetwork(bytes, prefix));
      continue;
    }
    const subdomains = entry.startsWith("*.");
    const name = (subdomains ? entry.slice(2) : entry).toLowerCase().replace(/\.$/, "");
    const labels = name.split(".");
    // An all-numeric last label would make a URL parse the host as an IPv4 address, never as this name.
    if (name.length > 253 || !labels.every((label) => LABEL.test(label)) || /^[0-9]+$/.test(labels.at(-1) ?? "")) {
      throw bad("is not a host name, IP address or CIDR block");
    }
    hosts.push({ name, subdomains });
  }
  return { entries, hosts, networks, anyPublic };
}

/** Address ranges refused by default; checked in order, so the specific ones come first. */
type AddressKind = "unspecified" | "loopback" | "private" | "link-local" | "cloud metadata" | "carrier-grade NAT" | "multicast" | "reserved";

interface Range {
  bytes: Uint8Array;
  prefix: number;
  kind: AddressKind;
}

function range(cidr: string, kind: AddressKind): Range {
  const [address = "", prefix = ""] = cidr.split("/");
  const bytes = parseIp(address);
  if (bytes === undefined) throw new Error(`bad built-in range ${cidr}`);
  return { bytes, prefix: prefix === "" ? bytes.length * 8 : Number(prefix), kind };
}

const V4_RANGES: readonly Range[] = [
  range("169.254.169.254", "cloud metadata"),
  range("100.100.100.200", "cloud metadata"),
  range("0.0.0.0/8", "unspecified"),
  range("10.0.0.0/8", "private"),
  range("100.64.0.0/10", "carrier-grade NAT"),
  range("127.0.0.0/8", "loopback"),
  range("169.254.0.0/16", "link-local"),
  range("172.16.0.0/12", "private"),
  range("192.0.0.0/24", "reserved"),
  range("192.0.2.0/24", "reserved"),
  range("192.168.0.0/16", "private"),
  range("198.18.0.0/15", "reserved"),
  range("198.51.100.0/24", "reserved"),
  range("203.0.113.0/24", "reserved"),
  range("224.0.0.0/4", "multicast"),
  range("240.0.0.0/4", "reserved"),
];

const V6_RANGES: readonly Range[] = [
  range("fd00:ec2::254", "cloud metadata"),
  range("::", "unspecified"),
  range("::1", "loopback"),
  range("::/96", "reserved"), // IPv4-compatible, deprecated
  range("64:ff9b:1::/48", "private"), // local-use NAT64
  range("100::/64", "reserved"), // discard
  range("2001::/32", "reserved"), // Teredo: the embedded IPv4 address is obfuscated, so it cannot be judged
  range("2001:db8::/32", "reserved"),
  range("fc00::/7", "private"),
  range("fe80::/10", "link-local"),
  range("fec0::/10", "private"), // site-local, deprecated
  range("ff00::/8", "multicast"),
];

/** IPv6 prefixes that carry an IPv4 address in their last 32 bits (or bits 16–48 for 6to4), judged by it. */
const V4_MAPPED = range("::ffff:0:0/96", "reserved");
const NAT64 = range("64:ff9b::/96", "reserved");
const SIX_TO_FOUR = range("2002::/16", "reserved");

interface Judged {
  /** Undefined for a public address. */
  kind: AddressKind | undefined;
  /** The IPv4 address an IPv6 address carries, when it carries one. */
  embedded: Uint8Array | undefined;
}

function judge(bytes: Uint8Array): Judged {
  const embedded = embeddedV4(bytes);
  const own = bytes.length === 4 ? V4_RANGES : V6_RANGES;
  const kind = own.find((r) => inBlock(bytes, r.bytes, r.prefix))?.kind ?? (embedded && judge(embedded).kind);
  return { kind, embedded };
}

function embeddedV4(bytes: Uint8Array): Uint8Array | undefined {
  if (bytes.length !== 16) return undefined;
  if (inBlock(bytes, V4_MAPPED.bytes, 96) || inBlock(bytes, NAT64.bytes, 96)) return bytes.slice(12);
  if (inBlock(bytes, SIX_TO_FOUR.bytes, 16)) return bytes.slice(2, 6);
  return undefined;
}

/**
 * Decides whether the gateway may connect to a URL. It resolves DNS itself and
 * returns the addresses it checked, so the connection is made to exactly those
 * (no second lookup, so no DNS-rebinding window between check and connect).
 *
 * Empty allow-list: every address must be public. Otherwise each address must lie
 * in an IP/CIDR entry, or be public with the host name matching a host-name entry.
 */
export class UpstreamGuard {
  readonly #allow: UpstreamAllowList;
  readonly #lookup: UpstreamLookup;

  constructor(allow: UpstreamAllowList, lookup: UpstreamLookup = defaultLookup) {
    this.#allow = allow;
    this.#lookup = lookup;
  }

  /** Returns the checked addresses or throws UpstreamRefusedError; DNS failures reject with the resolver's error. */
  async check(url: URL): Promise<ResolvedAddress[]> {
    if (url.protocol !== "http:" && url.protocol !== "https:") {
      throw new UpstreamRefusedError(`upstream URL scheme "${url.protocol}" is not allowed (only http: and https:)`);
    }
    const host = unbracket(url.hostname);
    const literal = parseIp(host);
    const listed = this.#allow.entries.length === 0 || this.#allow.anyPublic || (literal === undefined && this.#hostListed(host));
    const subject = literal === undefined ? `upstream host "${host}"` : `upstream address ${host}`;
    if (!listed && this.#allow.networks.length === 0) {
      throw new UpstreamRefusedError(`${subject} is not in GATEWAY_UPSTREAM_ALLOW`);
    }
    const addresses = literal === undefined ? await this.#lookup(host) : [{ address: host, family: literal.length === 4 ? 4 : 6 } as const];
    if (addresses.length === 0) throw new Error(`upstream host "${host}" resolved to no address`);
    const checked: ResolvedAddress[] = [];
    for (const { address } of addresses) {
      const bytes = parseIp(address);
      if (bytes === undefined) throw new UpstreamRefusedError(`${subject} resolves to "${address}", which is not an IP address`);
      const { kind, embedded } = judge(bytes);
      if (this.#networkListed(bytes) || (kind === undefined && listed)) {
        // The family comes from the address itself, so the connection cannot be told otherwise.
        checked.push({ address, family: bytes.length === 4 ? 4 : 6 });
        continue;
      }
      if (kind === undefined) throw new UpstreamRefusedError(`${subject} is not in GATEWAY_UPSTREAM_ALLOW`);
      const carried = embedded !== undefined && judge(embedded).kind !== undefined ? formatV4(embedded) : undefined;
      const what = `${kind === "unspecified" ? "an" : "a"} ${kind} address`;
      throw new UpstreamRefusedError(
        // The address a name resolved to stays out of the message: it goes to MCP
        // clients, and would make the gateway an oracle for internal DNS.
        literal === undefined
          ? `${subject} resolves to ${what}, which GATEWAY_UPSTREAM_ALLOW does not allow`
          : `${subject} is ${what}${carried === undefined ? "" : ` (carrying ${carried})`}, which GATEWAY_UPSTREAM_ALLOW does not allow`,
      );
    }
    return checked;
  }

  #hostListed(host: string): boolean {
    const name = host.toLowerCase().replace(/\.$/, "");
    return this.#allow.hosts.some((h) => (h.subdomains ? name.endsWith(`.${h.name}`) : name === h.name));
  }

  /** An address passes an IP/CIDR entry itself or through the IPv4 address it carries (mapped, NAT64, 6to4). */
  #networkListed(bytes: Uint8Array): boolean {
    const embedded = embeddedV4(bytes);
    return this.#allow.networks.some((n) => inBlock(bytes, n.bytes, n.prefix) || (embedded !== undefined && inBlock(embedded, n.bytes, n.prefix)));
  }
}

async function defaultLookup(hostname: string): Promise<ResolvedAddress[]> {
  const found = await dns.lookup(hostname, { all: true, verbatim: true });
  return found.map(({ address, family }) => ({ address, family: family === 6 ? 6 : 4 }));
}

function unbracket(host: string): string {
  return host.startsWith("[") && host.endsWith("]") ? host.slice(1, -1) : host;
}

/** The bytes of an IPv4 (4) or IPv6 (16) address; a zone (`%eth0`) is ignored; undefined if not an address. */
function parseIp(text: string): Uint8Array | undefined {
  if (isIPv4(text)) return Uint8Array.from(text.split(".").map(Number));
  if (!isIPv6(text)) return undefined;
  let address = text.replace(/%.*$/, "");
  const dotted = /(\d+\.\d+\.\d+\.\d+)$/.exec(address)?.[1];
  if (dotted !== undefined) {
    const [a = 0, b = 0, c = 0, d = 0] = dotted.split(".").map(Number);
    address = `${address.slice(0, -dotted.length)}${((a << 8) | b).toString(16)}:${((c << 8) | d).toString(16)}`;
  }
  const [head = "", tail] = address.split("::");
  const headGroups = head === "" ? [] : head.split(":");
  const tailGroups = tail === undefined || tail === "" ? [] : tail.split(":");
  const groups = [...headGroups, ...Array<string>(8 - headGroups.length - tailGroups.length).fill("0"), ...tailGroups];
  const bytes = new Uint8Array(16);
  groups.forEach((group, i) => {
    const n = parseInt(group, 16);
    bytes[i * 2] = n >> 8;
    bytes[i * 2 + 1] = n & 0xff;
  });
  return bytes;
}

function canonicalNetwork(bytes: Uint8Array, prefix: number): AllowedNetwork {
  // `::ffff:10.0.0.0/104` is `10.0.0.0/8`: connections to mapped addresses reach the IPv4 address.
  if (bytes.length === 16 && prefix >= 96 && inBlock(bytes, V4_MAPPED.bytes, 96)) return { bytes: bytes.slice(12), prefix: prefix - 96 };
  return { bytes, prefix };
}

function inBlock(address: Uint8Array, block: Uint8Array, prefix: number): boolean {
  if (address.length !== block.length) return false;
  for (let bit = 0; bit < prefix; bit += 8) {
    const mask = prefix - bit >= 8 ? 0xff : (0xff << (8 - (prefix - bit))) & 0xff;
    if (((address[bit / 8] ?? 0) & mask) !== ((block[bit / 8] ?? 0) & mask)) return false;
  }
  return true;
}

function formatV4(bytes: Uint8Array): string {
  return Array.from(bytes).join(".");
}
