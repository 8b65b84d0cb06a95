/** Start-up recovery: clear this host's target power states and reservations, fail stuck nodes. */
export * from './startup.js';
