/**
 * The machine and process a run was measured on: CPU model, cores, Node version, platform, and the
 * flags that change what is measured (--cpu-prof, V8 options).
 */
import { arch, cpus, loadavg, platform, release, totalmem } from 'node:os';
import type { MachineInfo } from './result.js';
import { gcAvailable } from './measure.js';

/** The machine, in the shared result shape. */
export function machineInfo(): MachineInfo {
  const list = cpus();
  return {
    cpu: list[0]?.model.trim() ?? 'unknown',
    cores: list.length,
    node: process.version,
    platform: `${platform()} ${arch()} ${release()}`,
  };
}

/** Process details beside the machine (not part of the shared MachineInfo shape). */
export interface RunEnvironment {
  readonly memoryGiB: number;
  /** Node flags of this process, without tsx's own loader flags. */
  readonly flags: readonly string[];
  /** Whether a full GC can be forced (the heap figures need it; timed code never forces one). */
  readonly gc: boolean;
  readonly v8: string;
  /** 1-minute load average when the run started (other processes on the machine skew every figure). */
  readonly loadAverage1m: number;
}

/** Flags of this process that matter for the figures (tsx's loader hooks left out). */
export function runEnvironment(): RunEnvironment {
  const flags = process.execArgv.filter((flag, i, all) => {
    if (/tsx[/\\]/.test(flag) || flag.startsWith('file:')) return false;
    // `--require`/`--import` whose value is tsx's loader: drop the flag with its value.
    if ((flag === '--require' || flag === '--import' || flag === '-r') && /tsx/.test(all[i + 1] ?? '')) return false;
    return true;
  });
  return {
    memoryGiB: Math.round((totalmem() / 2 ** 30) * 10) / 10,
    flags,
    gc: gcAvailable(),
    v8: process.versions.v8,
    loadAverage1m: Math.round((loadavg()[0] ?? 0) * 100) / 100,
  };
}

/** One line describing the machine and process. */
export function describeMachine(machine: MachineInfo, env: RunEnvironment): string {
  const flags = env.flags.length > 0 ? env.flags.join(' ') : '(none)';
  return (
    `${machine.cpu}, ${machine.cores} cores, ${env.memoryGiB} GiB, ${machine.platform}; ` +
    `Node ${machine.node} (V8 ${env.v8}); flags ${flags}; forced GC ${env.gc ? 'for heap figures only' : 'unavailable (no heap figures)'}; ` +
    `load ${env.loadAverage1m}`
  );
}
