/**
 * Allocation-state constants of `ironic/common/states.py`. Allocations also reuse ACTIVE and ERROR,
 * which are exported from provision-states.ts.
 */

/** The allocation is being processed. */
export const ALLOCATING = 'allocating';
