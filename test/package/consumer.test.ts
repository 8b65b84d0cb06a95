/**
 * The package as a consumer installs it: `npm pack`, then `npm install --engine-strict` of the
 * tarball into a fresh project outside the repository, and prove that
 *  (a) a plain `node` ESM script (and a CommonJS one, through require(esm)) provisions a node;
 *  (b) a strict TypeScript consumer (`module: node16`, then `moduleResolution: bundler`,
 *      `skipLibCheck: false`) compiles with zero errors and its emitted JavaScript runs;
 *  (c) the README's API tour, extracted from the README, runs in that consumer, and every name the
 *      README's export lists mention is exported under that name;
 *  (d) the bin runs compiled JavaScript.
 * The tarball's file list is asserted too. Needs the npm registry (or its cache) for the
 * dependencies, as any install does.
 */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdtemp, readFile, rm, writeFile, mkdir } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';

const run = promisify(execFile);
const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const TSC = join(ROOT, 'node_modules', 'typescript', 'bin', 'tsc');
const NPM = process.platform === 'win32' ? 'npm.cmd' : 'npm';
const TIMEOUT = 240_000;

let work = '';
let tarball = '';
let files: string[] = [];
let consumer = '';

/** Run a command; on failure, fail with its output (the whole point of these tests is the message). */
async function sh(file: string, args: readonly string[], cwd: string): Promise<{ stdout: string; stderr: string }> {
  try {
    return await run(file, [...args], {
      cwd,
      timeout: TIMEOUT,
      maxBuffer: 32 * 1024 * 1024,
      env: { ...process.env, npm_config_fund: 'false', npm_config_audit: 'false' },
    });
  } catch (error) {
    const e = error as { stdout?: string; stderr?: string; message: string };
    assert.fail(`${file} ${args.join(' ')} failed in ${cwd}:\n${e.message}\n${e.stdout ?? ''}\n${e.stderr ?? ''}`);
  }
}

/** The block after `<!-- name … -->` in the README (a fenced code block). */
function readmeBlock(readme: string, name: string): string {
  const match = new RegExp(`<!-- ${name}[^>]*-->\\s*\`\`\`(?:ts|js)\\n([\\s\\S]*?)\`\`\``).exec(readme);
  assert.ok(match, `README has a marked ${name} block`);
  return match[1] as string;
}

/** The names each `import { … } from '<entry>'` statement of a code block imports (comments stripped). */
function importedNames(code: string): Map<string, Set<string>> {
  const names = new Map<string, Set<string>>();
  const withoutComments = code.replace(/\/\*[\s\S]*?\*\//g, '').replace(/\/\/.*$/gm, '');
  for (const match of withoutComments.matchAll(/import\s*\{([^}]*)\}\s*from\s*'([^']+)'/g)) {
    const list = (match[1] as string)
      .split(',')
      .map((item) => item.trim().replace(/^type\s+/, ''))
      .filter((item) => item !== '');
    names.set(match[2] as string, new Set(list));
  }
  return names;
}

before(async () => {
  work = await mkdtemp(join(tmpdir(), 'mc-consumer-'));
  const packed = await sh(NPM, ['pack', '--json', '--pack-destination', work], ROOT);
  const manifest = JSON.parse(packed.stdout.slice(packed.stdout.indexOf('['))) as { filename: string; files: { path: string }[] }[];
  tarball = join(work, manifest[0]!.filename);
  files = manifest[0]!.files.map((f) => f.path);
  consumer = join(work, 'service');
  await mkdir(consumer);
  await writeFile(join(consumer, 'package.json'), JSON.stringify({ name: 'a-node-service', private: true, type: 'module' }, null, 2));
  const installed = await sh(
    NPM,
    ['install', '--engine-strict', '--prefer-offline', '--no-audit', '--no-fund', tarball, '@types/node@20'],
    consumer,
  );
  assert.doesNotMatch(installed.stderr, /EBADENGINE/, 'no dependency refuses Node 20');
});

after(async () => {
  if (work !== '') await rm(work, { recursive: true, force: true });
});

describe('the packed tarball', () => {
  it('ships dist, README, LICENSE and package.json only', () => {
    const outside = files.filter((f) => !f.startsWith('dist/'));
    assert.deepEqual(outside.sort(), ['LICENSE', 'README.md', 'package.json']);
    for (const required of [
      'dist/actors/index.js',
      'dist/actors/index.d.ts',
      'dist/actors/index.d.ts.map',
      'dist/actors/index.js.map',
      'dist/actors/actors-entry.js',
      'dist/actors/actors-entry.d.ts',
      'dist/actors/drivers-entry.js',
      'dist/actors/cli/main.js',
    ]) {
      assert.ok(files.includes(required), `${required} is packed`);
    }
    const forbidden = files.filter((f) => /(^|\/)(test|benchmarks|\.ci)\/|\.tsbuildinfo$|\.ts$/.test(f) && !f.endsWith('.d.ts'));
    assert.deepEqual(forbidden, [], 'no tests, benchmarks, CI or TypeScript sources');
  });
});

describe('a plain Node 20 service', () => {
  it('(a) an ESM script imports the package and provisions a node end to end', async () => {
    await writeFile(
      join(consumer, 'provision.mjs'),
      `import { Conductor, createRequestContext, orThrow, silentLogger } from 'metal-conductor';
const conductor = await orThrow(Conductor.open({ logger: silentLogger() }));
const ctx = createRequestContext({ user: 'service' });
const node = await orThrow(conductor.enroll({ driver: 'fake-hardware', name: 'svc-1' }, ['52:54:00:aa:00:01']));
const work = await orThrow(
  conductor.withTask(ctx, node.id, { purpose: 'manage' }, async (task) => {
    await orThrow(task.processEvent('manage'));
    return task.spawnAfter(async function verify(t) {
      await t.driver.power.getPowerState(t);
      await orThrow(t.processEvent('done'));
    });
  }),
);
await orThrow(work.done);
const provided = await conductor.withTask(ctx, 'svc-1', {}, (task) =>
  task.processEvent('provide', { callback: async function clean(t) { await orThrow(t.processEvent('wait')); } }).map(() => task.scheduledSpawn),
);
await orThrow(provided.value.done);
const stored = await orThrow(conductor.snapshot('svc-1'));
const refused = await conductor.withTask(ctx, 'svc-1', {}, (task) => task.processEvent('deploy'));
console.log(JSON.stringify({ state: stored.provision_state, reservation: stored.reservation, refused: refused.isErr() && refused.error.code }));
await orThrow(conductor.stop());
`,
    );
    const { stdout } = await sh(process.execPath, ['provision.mjs'], consumer);
    assert.deepEqual(JSON.parse(stdout.trim()), { state: 'clean wait', reservation: null, refused: 'InvalidState' });
  });

  it('(a) a CommonJS script requires it (require(esm), Node ≥ 20.19)', async () => {
    const [major, minor] = process.versions.node.split('.').map(Number) as [number, number];
    if (major === 20 && minor < 19) return; // documented: import() there
    await writeFile(
      join(consumer, 'legacy.cjs'),
      `const { Conductor, NodeLocked, states } = require('metal-conductor');
const { actorSystemOf } = require('metal-conductor/actors');
console.log(typeof Conductor.open, typeof NodeLocked, states.ACTIVE, typeof actorSystemOf);
`,
    );
    const { stdout } = await sh(process.execPath, ['legacy.cjs'], consumer);
    assert.equal(stdout.trim(), 'function function active function');
  });

  it('(d) the bin runs the built CLI', async () => {
    const bin = join(consumer, 'node_modules', '.bin', 'metal-conductor');
    const version = await sh(bin, ['--version'], consumer);
    const pkg = JSON.parse(await readFile(join(ROOT, 'package.json'), 'utf8')) as { version: string };
    assert.equal(version.stdout.trim(), pkg.version);
    const fleet = await sh(
      bin,
      ['--nodes', '3', '--memory', '--no-progress', '--json', '--failure-rate', '0', '--max-step-ms', '5'],
      consumer,
    );
    const summary = JSON.parse(fleet.stdout.trim().split('\n').at(-1)!) as { active: number; nodes: number };
    assert.deepEqual([summary.nodes, summary.active], [3, 3]);
  });
});

describe('a strict TypeScript consumer', () => {
  const source = `import { Conductor, createRequestContext, orThrow, silentLogger, type ExclusiveTask, type ProvisionState, type SpawnHandle } from 'metal-conductor';
import { actorSystemOf, type LeaseGrant } from 'metal-conductor/actors';
import { defineHardwareType, MANUAL_MANAGEMENT } from 'metal-conductor/drivers';

async function verify(task: ExclusiveTask): Promise<void> {
  await orThrow(task.processEvent('done'));
}

const conductor = await orThrow(Conductor.open({ logger: silentLogger(), drivers: { hardwareTypes: [defineHardwareType('rack-kit', { power: ['fake'] })] } }));
const ctx = createRequestContext();
const node = await orThrow(conductor.enroll({ driver: 'fake-hardware', name: 'ts-1' }));
const handle: SpawnHandle = await orThrow(
  conductor.withTask(ctx, node.id, {}, async (task) => {
    await orThrow(task.processEvent('manage'));
    return task.spawnAfter(verify);
  }),
);
await orThrow(handle.done);
const system = actorSystemOf(conductor);
const grant: LeaseGrant = await orThrow(system.ask(system.conductor, { type: 'acquireLease', nodeId: 'ts-1', purpose: 'typed' }, { timeoutMs: 2000 }));
const state: ProvisionState = grant.node.provision_state;
await orThrow(system.ask(system.conductor, { type: 'releaseLease', leaseId: grant.leaseId }, { timeoutMs: 2000 }));
console.log(state, grant.node.reservation_purpose, MANUAL_MANAGEMENT.name);
await orThrow(conductor.stop());
`;

  for (const [label, compilerOptions] of [
    ['module node16', { module: 'node16', moduleResolution: 'node16' }],
    ['moduleResolution bundler', { module: 'esnext', moduleResolution: 'bundler' }],
  ] as const) {
    it(`(b) compiles with zero errors (${label}, strict, skipLibCheck false) and the emitted JavaScript runs`, async () => {
      const dir = join(consumer, label.replace(/\W+/g, '-'));
      await mkdir(dir, { recursive: true });
      await writeFile(join(dir, 'main.ts'), source);
      await writeFile(
        join(dir, 'tsconfig.json'),
        JSON.stringify({
          compilerOptions: {
            ...compilerOptions,
            target: 'es2022',
            lib: ['es2023', 'esnext.disposable'],
            strict: true,
            skipLibCheck: false,
            types: ['node'],
            outDir: 'out',
            rootDir: '.',
          },
          include: ['*.ts'],
        }),
      );
      await sh(process.execPath, [TSC, '-p', 'tsconfig.json'], dir);
      const { stdout } = await sh(process.execPath, [join('out', 'main.js')], dir);
      assert.equal(stdout.trim(), 'manageable typed manual-management');
    });
  }

  it('(c) the README’s API tour runs in the consumer, and every name the README lists is exported', async () => {
    const readme = await readFile(join(ROOT, 'README.md'), 'utf8');
    const dir = join(consumer, 'readme');
    await mkdir(dir, { recursive: true });
    await writeFile(join(dir, 'tour.ts'), readmeBlock(readme, 'readme-example'));
    await writeFile(join(dir, 'exports.ts'), `${readmeBlock(readme, 'readme-exports')}\nexport {};\n`);
    await writeFile(
      join(dir, 'tsconfig.json'),
      JSON.stringify({
        compilerOptions: {
          module: 'node16',
          moduleResolution: 'node16',
          target: 'es2022',
          lib: ['es2023', 'esnext.disposable'],
          strict: true,
          skipLibCheck: false,
          noUnusedLocals: false,
          types: ['node'],
          outDir: 'out',
          rootDir: '.',
        },
        include: ['*.ts'],
      }),
    );
    await sh(process.execPath, [TSC, '-p', 'tsconfig.json'], dir);
    const { stdout } = await sh(process.execPath, [join('out', 'tour.js')], dir);
    assert.match(stdout, /baremetal\.node\.provision_set\.start enroll -> verifying/);
    assert.match(stdout, /baremetal\.node\.provision_set\.end verifying -> manageable/);
    assert.match(stdout, /manageable held for long firmware update/);
    assert.match(stdout, /is locked by host .* \(for "long firmware update", held for [0-9.]+ s\)/);
    // The status server's /metrics, scraped over HTTP: what the tour did, counted by mode and outcome.
    assert.match(stdout, /metal_conductor_acquires_total\{mode="exclusive",outcome="granted"\} 2\b/);
    assert.match(stdout, /metal_conductor_acquires_total\{mode="exclusive",outcome="node_locked"\} 1\b/);
    assert.match(stdout, /metal_conductor_acquires_total\{mode="shared",outcome="granted"\} 1\b/);
    // Every value each entry exports is in the README's list for that entry (the list compiled
    // above, so every name in it exists under that name).
    const listed = importedNames(readmeBlock(readme, 'readme-exports'));
    for (const [entry, file] of [
      ['metal-conductor', 'index.js'],
      ['metal-conductor/actors', 'actors-entry.js'],
      ['metal-conductor/drivers', 'drivers-entry.js'],
    ] as const) {
      const module = (await import(join(consumer, 'node_modules', 'metal-conductor', 'dist', 'actors', file))) as Record<string, unknown>;
      const names = listed.get(entry) ?? new Set<string>();
      assert.deepEqual(
        Object.keys(module).filter((name) => !names.has(name)),
        [],
        `values ${entry} exports that the README does not list`,
      );
    }
  });
});
