/** Cluster membership helpers (internal; not exported from the package). */
export { DEFAULT_PARTITION_EXPONENT, HashRing, ringsByGroup, type HashRingOptions, type RingMember } from './hash-ring.js';
