/** Number of property-test runs: `PROPERTY_RUNS` env (the bench-style command uses 100000), else `fallback`. */
export function propertyRuns(fallback: number): number {
  const fromEnv = Number(process.env.PROPERTY_RUNS);
  return Number.isInteger(fromEnv) && fromEnv > 0 ? fromEnv : fallback;
}
