/**
 * FakeEngine: runs one fake operation under the current FakeBehaviour: wait the drawn delay
 * (abortable), then fail with the operation's probability, else produce the result. One engine
 * per registry; `configure` swaps the behaviour for operations started afterwards.
 */
import type { Result } from 'neverthrow';
import type { InvalidParameterValue } from '../../errors.js';
import type { DriverTask } from '../driver-task.js';
import { raceAbort } from '../../abort.js';
import { DEFAULT_FAKE_BEHAVIOUR, resolveFakeBehaviour, type FakeBehaviour, type ResolvedFakeBehaviour } from './fake-behaviour.js';
import { FakeDriverError } from './fake-driver-error.js';

/** Executes fake operations according to a FakeBehaviour. Default behaviour: instant, never failing. */
export class FakeEngine {
  #behaviour: ResolvedFakeBehaviour = DEFAULT_FAKE_BEHAVIOUR;

  /** The behaviour operations started from now on use. */
  get behaviour(): ResolvedFakeBehaviour {
    return this.#behaviour;
  }

  /** Validate and install `behaviour` (defaults filled); on error the current one stays. */
  configure(behaviour: FakeBehaviour): Result<void, InvalidParameterValue> {
    return resolveFakeBehaviour(behaviour).map((resolved) => {
      this.#behaviour = resolved;
    });
  }

  /**
   * Run `operation` (`<type>.<op>`) for `task`: reject with `task.signal.reason` if aborted before
   * or during the delay; after the delay, reject with FakeDriverError with the operation's failure
   * probability; else resolve with `work()` (evaluated last, so it sees the task's current node).
   * The delay is drawn before the failure so a seeded `random` gives the same sequence every run.
   */
  async run<T>(operation: string, task: DriverTask, work: () => T): Promise<T> {
    const b = this.#behaviour;
    const signal = task.signal;
    signal.throwIfAborted();
    const ms = b.delayMin === b.delayMax ? b.delayMin : b.delayMin + b.random() * (b.delayMax - b.delayMin);
    if (ms > 0) {
      // An injected sleep may ignore the signal; racing it keeps abort prompt anyway.
      await (b.injectedSleep ? raceAbort(b.sleep(ms, signal), signal) : b.sleep(ms, signal));
      signal.throwIfAborted();
    }
    const p = b.failOperations.get(operation) ?? b.failureRate;
    if (p >= 1 || (p > 0 && b.random() < p)) throw new FakeDriverError(operation, task.node.uuid);
    return work();
  }
}
