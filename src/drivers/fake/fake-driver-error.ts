/**
 * FakeDriverError: the rejection of a fake operation whose failure was injected by FakeBehaviour.
 * A ConductorError (HTTP 500, like Ironic's driver failures) so it serialises like every other.
 */
import { ConductorError } from '../../errors.js';

/** An injected failure of a fake operation, e.g. "fake deploy.deploy failed (injected)". */
export class FakeDriverError extends ConductorError {
  readonly code = 'FakeDriverError';
  readonly status = 500;
  /** `<interface type>.<operation>`, e.g. `deploy.deploy`. */
  readonly operation: string;
  constructor(operation: string, node?: string) {
    super(`fake ${operation} failed (injected)`, { operation, node: node ?? null });
    this.operation = operation;
  }
}
