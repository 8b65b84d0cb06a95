/**
 * One folder per benchmark run: `benchmarks/results/<UTC timestamp>-<harness>/` (e.g.
 * `2026-12-02T04-10-33Z-bench/`), never reused, with a `run.json` describing the run (commit,
 * package version, harness, argv, machine, load average at start and end) beside the harness's
 * JSON files. `latest` and `latest-<harness>` are relative symlinks to the newest folder.
 */
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { mkdir, rename, rm, symlink, writeFile } from 'node:fs/promises';
import { loadavg } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { machineInfo, runEnvironment, type RunEnvironment } from './machine.js';
import type { MachineInfo } from './result.js';

/** The repository root (the same from benchmarks/lib/ and dist-bench/lib/). */
export const REPO_DIR = fileURLToPath(new URL('../../', import.meta.url));
/** Where every run's folder goes. */
export const RESULTS_ROOT = join(REPO_DIR, 'benchmarks', 'results');

/** The harnesses that write results (`latest-<harness>` names). */
export type HarnessName = 'bench' | 'spawn-after' | 'ironic' | 'ironic-postgres' | 'cluster' | 'durability';

/** The commit a run measured; null outside a git checkout (or without git). */
export interface CommitInfo {
  readonly sha: string;
  /** Uncommitted changes to tracked files. */
  readonly dirty: boolean;
}

/** `run.json`. */
export interface RunInfo {
  readonly harness: HarnessName;
  readonly commit: CommitInfo | null;
  readonly packageVersion: string | null;
  readonly argv: readonly string[];
  readonly quick: boolean;
  readonly startedAt: string;
  /** Null while the run is going on (or when it died). */
  readonly endedAt: string | null;
  readonly machine: MachineInfo;
  readonly environment: RunEnvironment;
  /** 1, 5 and 15-minute load averages. */
  readonly loadAverage: { readonly start: readonly number[]; readonly end: readonly number[] | null };
  /** The JSON files the harness wrote into the folder. */
  readonly files: readonly string[];
}

/** A run's folder, created by `startRun`. */
export interface RunDir {
  /** Absolute path of the folder. */
  readonly path: string;
  /** Folder name (`<timestamp>-<harness>`). */
  readonly name: string;
  readonly info: RunInfo;
  /** Write `<name>.json` into the folder (pretty-printed). */
  writeJson(name: string, value: unknown): Promise<string>;
  /** Record the end time and load average in run.json. */
  finish(): Promise<void>;
}

/** Options of `startRun`; `root` defaults to benchmarks/results/. */
export interface StartRunOptions {
  readonly harness: HarnessName;
  readonly argv: readonly string[];
  readonly quick: boolean;
  readonly root?: string;
  /** The start time (default now). */
  readonly now?: Date;
}

function git(args: readonly string[]): string | null {
  try {
    return execFileSync('git', args, { cwd: REPO_DIR, encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }).trim();
  } catch {
    return null;
  }
}

/** HEAD and whether tracked files changed; null without git or outside a checkout. */
export function commitInfo(): CommitInfo | null {
  const sha = git(['rev-parse', 'HEAD']);
  if (sha === null || sha === '') return null;
  const status = git(['status', '--porcelain', '--untracked-files=no']);
  return { sha, dirty: status !== null && status !== '' };
}

/** The version in package.json, or null. */
export function packageVersion(): string | null {
  try {
    const pkg = JSON.parse(readFileSync(join(REPO_DIR, 'package.json'), 'utf8')) as { version?: unknown };
    return typeof pkg.version === 'string' ? pkg.version : null;
  } catch {
    return null;
  }
}

/** `2026-12-02T04-10-33Z`: an ISO time without milliseconds, `:` replaced (valid in every file system). */
export function folderTimestamp(date: Date): string {
  return date
    .toISOString()
    .replace(/\.\d{3}Z$/, 'Z')
    .replaceAll(':', '-');
}

const loads = (): number[] => loadavg().map((l) => Math.round(l * 100) / 100);

/** Point `root/<link>` at `target` (a sibling folder name), replacing an older link. */
async function pointLink(root: string, link: string, target: string): Promise<void> {
  const tmp = join(root, `.${link}.${process.pid}.tmp`);
  try {
    await rm(tmp, { force: true });
    await symlink(target, tmp, 'dir');
    await rename(tmp, join(root, link));
  } catch (error) {
    await rm(tmp, { force: true }).catch(() => undefined);
    process.stderr.write(`note: could not point ${link} at ${target}: ${(error as Error).message}\n`);
  }
}

/**
 * Create a new run folder (a `-2`, `-3` … suffix when a folder of the same second exists: nothing
 * is ever overwritten), write its run.json and point `latest` and `latest-<harness>` at it.
 */
export async function startRun(options: StartRunOptions): Promise<RunDir> {
  const root = options.root ?? RESULTS_ROOT;
  const now = options.now ?? new Date();
  await mkdir(root, { recursive: true });
  const base = `${folderTimestamp(now)}-${options.harness}`;
  let name = base;
  for (let n = 2; ; n++) {
    try {
      await mkdir(join(root, name));
      break;
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error;
      name = `${base}-${n}`;
    }
  }
  const path = join(root, name);
  const files: string[] = [];
  let info: RunInfo = {
    harness: options.harness,
    commit: commitInfo(),
    packageVersion: packageVersion(),
    argv: [...options.argv],
    quick: options.quick,
    startedAt: now.toISOString(),
    endedAt: null,
    machine: machineInfo(),
    environment: runEnvironment(),
    loadAverage: { start: loads(), end: null },
    files,
  };
  const writeInfo = (): Promise<void> => writeFile(join(path, 'run.json'), `${JSON.stringify(info, null, 2)}\n`);
  await writeInfo();
  await pointLink(root, 'latest', name);
  await pointLink(root, `latest-${options.harness}`, name);
  return {
    path,
    name,
    get info() {
      return info;
    },
    async writeJson(file: string, value: unknown): Promise<string> {
      const target = join(path, `${file}.json`);
      await writeFile(target, `${JSON.stringify(value, null, 2)}\n`);
      if (!files.includes(`${file}.json`)) {
        files.push(`${file}.json`);
        await writeInfo();
      }
      return target;
    },
    async finish(): Promise<void> {
      info = { ...info, endedAt: new Date().toISOString(), loadAverage: { start: info.loadAverage.start, end: loads() } };
      await writeInfo();
    },
  };
}
