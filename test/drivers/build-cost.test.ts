/**
 * Cost of buildDriverForTask, which runs on every task acquire. Prints ns/build (best of 5
 * rounds) as diagnostics; asserts only a generous bound on the cached path so slow machines do
 * not flake.
 */
import assert from 'node:assert/strict';
import { it } from 'node:test';
import { buildDriverForTask, createDriverRegistry } from '../../src/drivers/index.js';
import type { NodeRecord } from '../../src/node.js';
import { allFakeInterfaces, makeNode } from './helpers.js';

/** Best ns/build over 5 rounds; `nodes()` gives each round its snapshots. */
function nsPerBuild(nodes: () => readonly NodeRecord[], repeat: number): number {
  const registry = createDriverRegistry()._unsafeUnwrap();
  // Warm up the JIT on other snapshots of the same shapes.
  for (let i = 0; i < 2000; i++) void buildDriverForTask({ node: makeNode(allFakeInterfaces()) }, registry);
  for (let i = 0; i < 2000; i++) void buildDriverForTask({ node: makeNode() }, registry);
  let best = Infinity;
  for (let round = 0; round < 5; round++) {
    const batch = nodes();
    const start = process.hrtime.bigint();
    for (let r = 0; r < repeat; r++) {
      for (const node of batch) {
        if (buildDriverForTask({ node }, registry).isErr()) throw new Error('build failed');
      }
    }
    best = Math.min(best, Number(process.hrtime.bigint() - start) / (repeat * batch.length));
  }
  return best;
}

it('measures buildDriverForTask', (t) => {
  const count = 10_000;
  const coldFill = nsPerBuild(() => Array.from({ length: count }, () => makeNode()), 1);
  const coldNoFill = nsPerBuild(() => Array.from({ length: count }, () => makeNode(allFakeInterfaces())), 1);
  const cached = nsPerBuild(() => [makeNode()], 200_000);

  t.diagnostic(`new snapshot, defaults to fill (immer produce): ${coldFill.toFixed(0)} ns/build`);
  t.diagnostic(`new snapshot, nothing to fill:                  ${coldNoFill.toFixed(0)} ns/build`);
  t.diagnostic(`same snapshot again (cached):                   ${cached.toFixed(1)} ns/build`);
  assert.ok(cached < 2_000, `cached build took ${cached} ns`);
});
