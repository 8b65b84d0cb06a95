/**
 * UnsupportedDriverExtension: what Ironic's `no-*` implementations raise from validate and from
 * every operation (`ironic/drivers/modules/noop.py`, FailMixin). Kept beside the drivers because
 * only they raise it.
 */
import { ConductorError } from '../errors.js';

/** The node's interface is a `no-*` implementation: the feature is disabled (HTTP 400). */
export class UnsupportedDriverExtension extends ConductorError {
  readonly code = 'UnsupportedDriverExtension';
  readonly status = 400;
  constructor(driver: string, extension: string) {
    super(`Driver ${driver} does not support ${extension} (disabled or not implemented).`, { driver, extension });
  }
}
