/**
 * `npm run bench [-- --quick] [-- --scenario NAME ...]`: every benchmark scenario, a table on
 * stdout, JSON in benchmarks/results/<scenario>.json and the ratios to the raw floor
 * (benchmarks/results/summary.json). See lib/harness.ts.
 */
import { main } from './lib/harness.js';

process.exitCode = await main(process.argv.slice(2));
