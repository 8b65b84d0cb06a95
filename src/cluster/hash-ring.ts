/**
 * Ironic's partitioned consistent hash ring (tooz `tooz.hashring.HashRing`, as used by `ironic/common/hash_ring.py`).
 *
 * Scheme, ported from tooz: for a member `m` (UTF-8 bytes `b`), one md5 context is seeded with `b`; for each of the
 * 2^partitionExponent partitions it is updated with `b` once more and the running digest, read as a 128-bit big-endian
 * integer, is a position; so partition `r` sits at `md5(b repeated r + 2 times)`. A key sits at `md5(key)` and belongs
 * to the member at the first position strictly greater than it (tooz's `bisect.bisect`), wrapping to the first.
 * Members are hashed in lower case (hostnames compare case-insensitively); for lower-case names this equals tooz.
 */
import { createHash, type Hash } from 'node:crypto';

/** Options of a ring. */
export interface HashRingOptions {
  /** Partitions per member as a power of two (Ironic's `hash_partition_exponent`); default 5, i.e. 32. */
  readonly partitionExponent?: number;
}

/** Ironic's default `hash_partition_exponent`. */
export const DEFAULT_PARTITION_EXPONENT = 5;

/** The running digest of `hash` as an unsigned integer, leaving `hash` usable (Python's `hexdigest()`). */
function digestOf(hash: Hash): bigint {
  return BigInt('0x' + hash.copy().digest('hex'));
}

/** Position of a key on the ring: md5 of its UTF-8 bytes as an integer. */
function keyPosition(key: string): bigint {
  return BigInt('0x' + createHash('md5').update(key, 'utf8').digest('hex'));
}

/** Immutable consistent hash ring over a set of members (conductor hostnames). */
export class HashRing {
  /** The distinct members, as given (the smallest spelling among case variants), sorted case-insensitively. */
  readonly members: readonly string[];
  /** Sorted partition positions. */
  readonly #positions: readonly bigint[];
  /** Member owning `#positions[i]`. */
  readonly #owners: readonly string[];
  /** Lower-cased member name → member as returned. */
  readonly #byFolded: ReadonlyMap<string, string>;

  /** Builds the ring; duplicates (case-insensitively) count once. */
  constructor(members: Iterable<string>, options: HashRingOptions = {}) {
    const exponent = options.partitionExponent ?? DEFAULT_PARTITION_EXPONENT;
    if (!Number.isInteger(exponent) || exponent < 0 || exponent > 16) {
      throw new RangeError(`partitionExponent must be an integer in [0, 16], got ${exponent}`);
    }
    const byFolded = new Map<string, string>();
    for (const member of members) {
      const folded = member.toLowerCase();
      const seen = byFolded.get(folded);
      // Keep the smallest spelling so the result does not depend on input order.
      if (seen === undefined || member < seen) byFolded.set(folded, member);
    }
    const folded = [...byFolded.keys()].sort();
    const partitions = 2 ** exponent;
    const entries: { position: bigint; owner: string }[] = [];
    for (const name of folded) {
      const owner = byFolded.get(name) as string;
      const bytes = Buffer.from(name, 'utf8');
      const hash = createHash('md5').update(bytes);
      for (let r = 0; r < partitions; r++) {
        hash.update(bytes);
        entries.push({ position: digestOf(hash), owner });
      }
    }
    // Sort by position (stable: a tie, never seen with md5, keeps member name order).
    entries.sort((a, b) => (a.position < b.position ? -1 : a.position > b.position ? 1 : 0));
    this.#positions = entries.map((e) => e.position);
    this.#owners = entries.map((e) => e.owner);
    this.#byFolded = byFolded;
    this.members = Object.freeze(folded.map((name) => byFolded.get(name) as string));
  }

  /** The member owning `key` (a node UUID), or null when the ring has no members. O(log n). */
  ownerOf(key: string): string | null {
    const positions = this.#positions;
    if (positions.length === 0) return null;
    const target = keyPosition(key);
    // bisect_right: first index whose position is strictly greater than the key's.
    let lo = 0;
    let hi = positions.length;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if ((positions[mid] as bigint) <= target) lo = mid + 1;
      else hi = mid;
    }
    return this.#owners[lo === positions.length ? 0 : lo] as string;
  }

  /** Whether `member` (compared case-insensitively) owns `key`. */
  owns(member: string, key: string): boolean {
    const owner = this.ownerOf(key);
    return owner !== null && this.#byFolded.get(member.toLowerCase()) === owner;
  }
}

/** A live conductor as seen by ring building. */
export interface RingMember {
  /** Hostname. */
  readonly host: string;
  /** Conductor group ('' is the default group). */
  readonly group: string;
}

/**
 * One ring per conductor group, keyed by lower-cased group name (Ironic stores groups in lower case). A node of group G
 * is owned by a member of ring G; a group with no live conductor has no ring, so its nodes have no owner.
 */
export function ringsByGroup(conductors: readonly RingMember[], options: HashRingOptions = {}): Map<string, HashRing> {
  const hostsByGroup = new Map<string, string[]>();
  for (const { host, group } of conductors) {
    const key = group.toLowerCase();
    const hosts = hostsByGroup.get(key);
    if (hosts === undefined) hostsByGroup.set(key, [host]);
    else hosts.push(host);
  }
  const rings = new Map<string, HashRing>();
  for (const [group, hosts] of hostsByGroup) rings.set(group, new HashRing(hosts, options));
  return rings;
}
