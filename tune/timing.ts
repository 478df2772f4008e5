/** Kernel timing shared by `qkc bench`, the benches and the tuner: warm-up, then sorted wall times. */

/** Wall times (ms, ascending) of `runs` calls after `warmup` calls; `fn` may be sync or async. */
export async function timeRuns(fn: () => unknown, runs: number, warmup = 2): Promise<number[]> {
  for (let i = 0; i < warmup; i++) await fn();
  const times: number[] = [];
  for (let i = 0; i < runs; i++) {
    const t0 = performance.now();
    await fn();
    times.push(performance.now() - t0);
  }
  return times.sort((a, b) => a - b);
}

export const median = (sorted: readonly number[]) => sorted[Math.floor(sorted.length / 2)];
