/**
 * `npm run bench:report [-- --results DIR ...] [--out DIR]`: charts of the benchmark results
 * (SVG and PNG; see report/main.ts).
 */
import { main } from './report/main.js';

process.exitCode = await main(process.argv.slice(2));
