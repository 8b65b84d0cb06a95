/**
 * Summarise V8 CPU profiles (`node --cpu-prof`): top functions by self time, with TypeScript
 * positions (the positions in the profile are of the generated code: dist/ and dist-bench/, both
 * built by tsc; our modules are imported here and mapped back through their source maps), and
 * self time by package / file.
 *
 *   npm run build:bench
 *   node --cpu-prof --cpu-prof-dir=.tmp/prof dist-bench/run.js --scenario exclusive-cycle
 *   node --enable-source-maps dist-bench/profile-summary.js .tmp/prof/*.cpuprofile [--top 30]
 *
 * `(idle)` in a profile of this project is mostly event-loop turns: nact schedules every message
 * with setImmediate, and the profiler books the loop's poll phase between immediates as idle (the
 * loop never actually waits: event-loop utilisation stays at 1.0 in these closed loops).
 */
import { readFile } from 'node:fs/promises';
import { findSourceMap } from 'node:module';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { parseArgs } from 'node:util';

interface CallFrame {
  readonly functionName: string;
  readonly url: string;
  readonly lineNumber: number;
  readonly columnNumber: number;
}
interface ProfileNode {
  readonly id: number;
  readonly callFrame: CallFrame;
}
interface Profile {
  readonly nodes: readonly ProfileNode[];
  readonly samples: readonly number[];
  readonly timeDeltas: readonly number[];
}

const ROOT = pathToFileURL(fileURLToPath(new URL('../', import.meta.url))).href;
/** Our modules that can be imported without running anything (not entry scripts). */
const IMPORTABLE = /^((dist\/)?(src|actors(?!\/cli))|(benchmarks|dist-bench)\/(lib|scenarios))\//;

const { values, positionals } = parseArgs({ allowPositionals: true, options: { top: { type: 'string', default: '30' } } });
const top = Number(values.top);
if (positionals.length === 0) {
  console.error('usage: node --enable-source-maps dist-bench/profile-summary.js FILE.cpuprofile ... [--top N]');
  process.exit(2);
}

process.setSourceMapsEnabled(true);
const loaded = new Set<string>();
async function original(frame: CallFrame): Promise<string> {
  const url = frame.url;
  if (url === '') return '';
  if (!url.startsWith(ROOT)) return `${url}:${frame.lineNumber + 1}`;
  const rel = url.slice(ROOT.length);
  if (rel.startsWith('node_modules/')) return `${rel}:${frame.lineNumber + 1}`;
  if (IMPORTABLE.test(rel) && !loaded.has(url)) {
    loaded.add(url);
    try {
      await import(url);
    } catch {
      // not importable on its own: report the generated position
    }
  }
  const entry = findSourceMap(url)?.findEntry(frame.lineNumber, frame.columnNumber);
  if (entry && 'originalLine' in entry) return `${rel}:${entry.originalLine + 1}`;
  return `${rel}:${frame.lineNumber + 1}:${frame.columnNumber + 1} (generated)`;
}

/** Which component a frame belongs to: a package, one of our files, or the VM. */
function component(frame: CallFrame): string {
  const name = frame.functionName;
  if (name === '(idle)') return '(idle: event-loop turns)';
  if (name === '(garbage collector)' || name === '(program)') return name;
  const url = frame.url;
  if (url.startsWith('wasm://')) return 'sql.js (wasm)';
  if (url === '') return '(native)';
  if (url.startsWith('node:')) return 'node: internals';
  if (!url.startsWith(ROOT)) return url;
  const rel = url.slice(ROOT.length);
  const pkg = /^node_modules\/((?:@[^/]+\/)?[^/]+)/.exec(rel);
  return pkg ? pkg[1]! : rel;
}

for (const file of positionals) {
  const profile = JSON.parse(await readFile(file, 'utf8')) as Profile;
  const byId = new Map(profile.nodes.map((n) => [n.id, n]));
  const self = new Map<number, number>();
  profile.samples.forEach((id, i) => self.set(id, (self.get(id) ?? 0) + (profile.timeDeltas[i] ?? 0)));
  const total = [...self.values()].reduce((a, b) => a + b, 0);
  if (total === 0) continue;
  const byFunction = new Map<string, { frame: CallFrame; us: number }>();
  const byComponent = new Map<string, number>();
  for (const [id, us] of self) {
    const frame = byId.get(id)!.callFrame;
    const key = `${frame.functionName}|${frame.url}|${frame.lineNumber}|${frame.columnNumber}`;
    const entry = byFunction.get(key) ?? { frame, us: 0 };
    entry.us += us;
    byFunction.set(key, entry);
    const comp = component(frame);
    byComponent.set(comp, (byComponent.get(comp) ?? 0) + us);
  }
  const pct = (us: number): string => `${((us / total) * 100).toFixed(1).padStart(5)}%`;
  console.log(`\n${file}: ${(total / 1000).toFixed(0)} ms sampled`);
  console.log('self time by component:');
  for (const [name, us] of [...byComponent].sort((a, b) => b[1] - a[1]).slice(0, 20)) console.log(`  ${pct(us)}  ${name}`);
  console.log(`top ${top} functions by self time:`);
  const rows = [...byFunction.values()].sort((a, b) => b.us - a.us).slice(0, top);
  for (const { frame, us } of rows) {
    console.log(`  ${pct(us)}  ${(frame.functionName || '(anonymous)').padEnd(28)} ${await original(frame)}`);
  }
}
