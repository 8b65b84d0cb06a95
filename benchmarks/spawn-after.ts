/**
 * `npm run bench:spawn-after [-- --quick]`: the `spawn-after` scenario of the harness alone
 * (kept for the existing script; same as `npm run bench -- --scenario spawn-after`).
 */
import { main } from './lib/harness.js';

process.exitCode = await main(['--scenario', 'spawn-after', ...process.argv.slice(2)], 'spawn-after');
