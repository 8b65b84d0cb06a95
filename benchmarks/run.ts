/**
 * `npm run bench [-- --quick] [-- --scenario NAME ...]`: every benchmark scenario, a table on
 * stdout, JSON in a new folder benchmarks/results/<UTC timestamp>-bench/ (<scenario>.json, the
 * ratios to the raw floor in summary.json, run.json). See lib/harness.ts.
 */
import { main } from './lib/harness.js';

process.exitCode = await main(process.argv.slice(2));
