/**
 * MAC addresses of ports, as Ironic's `utils.validate_and_normalize_mac` reads them: six pairs of
 * hex digits separated all by `:` or all by `-`, stored lower-case. Anything else is refused
 * (Ironic's InvalidMAC, here InvalidParameterValue).
 */
import { err, ok, type Result } from 'neverthrow';
import { InvalidParameterValue } from './errors.js';

const MAC_RE = /^[0-9a-f]{2}([-:])[0-9a-f]{2}(\1[0-9a-f]{2}){4}$/;

/** The normalised (lower-case) address, or InvalidParameterValue with Ironic's text. */
export function normalizeMac(address: unknown): Result<string, InvalidParameterValue> {
  const lower = typeof address === 'string' ? address.toLowerCase() : null;
  if (lower === null || !MAC_RE.test(lower)) {
    return err(new InvalidParameterValue(`Expected a MAC address but received ${String(address)}.`, { field: 'address' }));
  }
  return ok(lower);
}
