/**
 * Tests of the consistent hash ring (src/cluster/hash-ring.ts): known answers from a Python transcription of tooz's
 * `HashRing`, and properties (one owner per key, determinism, minimal movement, balance, case-insensitivity).
 * `PROPERTY_RUNS=5000 node --import tsx --test test/cluster/hash-ring.test.ts` runs more cases.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { HashRing, ringsByGroup } from '../../src/cluster/index.js';
import { propertyRuns } from '../helpers/runs.js';

const runs = propertyRuns(200);

/** Lower-case hostnames. */
const hostname = fc.stringMatching(/^[a-z][a-z0-9.-]{0,20}$/);
/** Distinct members (case-insensitively), between `min` and `max` of them. */
const membersOf = (min: number, max: number) =>
  fc.uniqueArray(hostname, { minLength: min, maxLength: max, selector: (h) => h.toLowerCase() });
/** Node UUIDs as keys. */
const keys = fc.array(fc.uuid(), { minLength: 1, maxLength: 60 });

/** `n` reproducible random UUIDs. */
function uuids(n: number, seed: number): string[] {
  return fc.sample(fc.uuid(), { numRuns: n, seed });
}

/** Share of `keys` owned by each member. */
function shares(ring: HashRing, keys: readonly string[]): Map<string, number> {
  const counts = new Map<string, number>(ring.members.map((m) => [m, 0]));
  for (const key of keys) {
    const owner = ring.ownerOf(key);
    assert.ok(owner !== null);
    counts.set(owner, (counts.get(owner) ?? 0) + 1);
  }
  return new Map([...counts].map(([m, c]) => [m, c / keys.length]));
}

describe('HashRing', () => {
  it('matches tooz on known answers (md5, 32 partitions, bisect_right)', () => {
    // Expected owners computed with a Python transcription of tooz.hashring.HashRing (hashlib md5).
    const ring = new HashRing(['conductor-a', 'conductor-b', 'conductor-c']);
    const expected: [string, string][] = [
      ['1be26c0b-03f2-4d2e-ae87-c02d7f33c123', 'conductor-b'],
      ['a1b2c3d4-0000-4000-8000-000000000001', 'conductor-c'],
      ['00000000-0000-0000-0000-000000000000', 'conductor-b'],
      ['ffffffff-ffff-4fff-bfff-ffffffffffff', 'conductor-c'],
      ['6a1f3c4e-9b2d-4e8f-a7c6-5d4e3f2a1b0c', 'conductor-a'],
      ['node-1', 'conductor-c'],
      ['node-2', 'conductor-b'],
      ['node-3', 'conductor-a'],
      // md5 above the last position (conductor-c's): wraps to the first (conductor-b's).
      ['wrap-131', 'conductor-b'],
    ];
    for (const [key, owner] of expected) assert.equal(ring.ownerOf(key), owner, key);
  });

  it('(a) gives every key exactly one owner, and owns agrees with ownerOf', () => {
    fc.assert(
      fc.property(membersOf(1, 8), keys, (members, ks) => {
        const ring = new HashRing(members);
        for (const key of ks) {
          const owner = ring.ownerOf(key);
          assert.ok(owner !== null && members.includes(owner));
          const owning = members.filter((m) => ring.owns(m, key));
          assert.deepEqual(owning, [owner]);
        }
      }),
      { numRuns: runs },
    );
  });

  it('(b) is deterministic: the same members in any order give the same owners', () => {
    fc.assert(
      fc.property(
        membersOf(1, 8).chain((ms) => fc.tuple(fc.constant(ms), fc.shuffledSubarray(ms, { minLength: ms.length, maxLength: ms.length }))),
        keys,
        fc.integer({ min: 1, max: 3 }),
        ([members, shuffled], ks, copies) => {
          const a = new HashRing(members);
          // Shuffled, with duplicates.
          const b = new HashRing(Array.from({ length: copies }, () => shuffled).flat());
          assert.deepEqual(b.members, a.members);
          for (const key of ks) assert.equal(b.ownerOf(key), a.ownerOf(key));
        },
      ),
      { numRuns: runs },
    );
  });

  it('(c) moves only keys of the new member on add, and only keys of the removed member on remove', () => {
    fc.assert(
      fc.property(membersOf(2, 9), keys, (all, ks) => {
        const [added, ...rest] = all as [string, ...string[]];
        const before = new HashRing(rest);
        const after = new HashRing(all);
        for (const key of ks) {
          const was = before.ownerOf(key);
          const now = after.ownerOf(key);
          // Adding: a key either stays or goes to the new member.
          if (now !== was) assert.equal(now, added, key);
          // Removing `added` again: a key moves iff the removed member owned it.
          assert.equal(now === added, was !== now, key);
        }
      }),
      { numRuns: runs },
    );
  });

  it('(d) balances 10,000 keys over 3 members within 20%..47% each', (t) => {
    const sample = uuids(10_000, 42);
    const memberSets = [
      ['conductor-1', 'conductor-2', 'conductor-3'],
      ['ironic-0.example.org', 'ironic-1.example.org', 'ironic-2.example.org'],
      ['alpha', 'beta', 'gamma'],
    ];
    for (const members of memberSets) {
      const s = shares(new HashRing(members), sample);
      const values = [...s.values()];
      t.diagnostic(`${members.join(', ')}: ${[...s].map(([m, v]) => `${m} ${(v * 100).toFixed(1)}%`).join(', ')}`);
      for (const [m, v] of s) assert.ok(v >= 0.2 && v <= 0.47, `${m} owns ${v}`);
      assert.equal(values.length, 3);
    }
  });

  it('(e) moves about a third of the keys when going from 2 to 3 members', (t) => {
    const sample = uuids(10_000, 7);
    const memberSets = [
      ['conductor-1', 'conductor-2', 'conductor-3'],
      ['ironic-0.example.org', 'ironic-1.example.org', 'ironic-2.example.org'],
      ['alpha', 'beta', 'gamma'],
    ];
    for (const members of memberSets) {
      const two = new HashRing(members.slice(0, 2));
      const three = new HashRing(members);
      const moved = sample.filter((k) => two.ownerOf(k) !== three.ownerOf(k)).length / sample.length;
      t.diagnostic(`${members.join(', ')}: adding ${members[2]} moved ${(moved * 100).toFixed(1)}%`);
      assert.ok(moved >= 0.2 && moved <= 0.45, `moved ${moved}`);
    }
  });

  it('(f) has no owner when empty', () => {
    fc.assert(
      fc.property(fc.uuid(), (key) => {
        const ring = new HashRing([]);
        assert.deepEqual(ring.members, []);
        assert.equal(ring.ownerOf(key), null);
        assert.equal(ring.owns('anyone', key), false);
      }),
      { numRuns: runs },
    );
  });

  it('(g) compares members case-insensitively and returns them as given', () => {
    const mixCase = (s: string) =>
      fc
        .array(fc.boolean(), { minLength: s.length, maxLength: s.length })
        .map((up) => [...s].map((c, i) => (up[i] ? c.toUpperCase() : c)).join(''));
    fc.assert(
      fc.property(
        membersOf(1, 6).chain((ms) => fc.tuple(fc.constant(ms), fc.tuple(...ms.map(mixCase)))),
        keys,
        ([lower, mixed], ks) => {
          const a = new HashRing(lower);
          const b = new HashRing(mixed);
          // Returned as given.
          assert.deepEqual([...b.members].sort(), [...mixed].sort());
          for (const key of ks) {
            const owner = b.ownerOf(key);
            assert.ok(owner !== null && mixed.includes(owner));
            // Same placement whatever the case.
            assert.equal(owner.toLowerCase(), a.ownerOf(key));
            assert.ok(b.owns(owner.toLowerCase(), key) && b.owns(owner.toUpperCase(), key) && a.owns(owner, key));
          }
          // Case variants of one member count once.
          assert.equal(new HashRing([...lower, ...mixed]).members.length, lower.length);
        },
      ),
      { numRuns: runs },
    );
  });

  it('is immutable', () => {
    const ring = new HashRing(['a', 'b']);
    assert.ok(Object.isFrozen(ring.members));
    assert.throws(() => (ring.members as string[]).push('c'));
  });

  it('honours partitionExponent and rejects bad values', () => {
    const sample = uuids(200, 3);
    const one = new HashRing(['a', 'b'], { partitionExponent: 0 });
    const many = new HashRing(['a', 'b'], { partitionExponent: 8 });
    assert.ok(sample.some((k) => one.ownerOf(k) !== many.ownerOf(k)));
    assert.throws(() => new HashRing(['a'], { partitionExponent: -1 }), RangeError);
    assert.throws(() => new HashRing(['a'], { partitionExponent: 1.5 }), RangeError);
  });

  it('builds a 3-member ring in well under 1 ms', (t) => {
    const n = 2_000;
    for (let i = 0; i < 200; i++) new HashRing([`c${i}`, 'b', 'a']); // warm up
    const start = process.hrtime.bigint();
    for (let i = 0; i < n; i++) new HashRing([`conductor-${i}`, 'conductor-b', 'conductor-c']);
    const meanMs = Number(process.hrtime.bigint() - start) / 1e6 / n;
    t.diagnostic(`mean build time ${(meanMs * 1000).toFixed(1)} µs`);
    assert.ok(meanMs < 1, `mean build ${meanMs} ms`);
  });
});

describe('ringsByGroup', () => {
  it('keeps one ring per group; nodes of a group without conductors have no owner', () => {
    fc.assert(
      fc.property(
        fc.array(fc.record({ host: hostname, group: fc.constantFrom('', 'rack1', 'Rack2') }), { maxLength: 12 }),
        fc.uuid(),
        fc.constantFrom('', 'rack1', 'rack2', 'rack3'),
        (conductors, key, group) => {
          const rings = ringsByGroup(conductors);
          const live = conductors.filter((c) => c.group.toLowerCase() === group).map((c) => c.host);
          const ring = rings.get(group);
          if (live.length === 0) {
            assert.equal(ring, undefined);
            return;
          }
          assert.ok(ring !== undefined);
          const owner = ring.ownerOf(key);
          assert.ok(owner !== null && live.includes(owner));
          assert.equal(owner, new HashRing(live).ownerOf(key));
        },
      ),
      { numRuns: runs },
    );
  });
});
