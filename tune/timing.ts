/** Kernel timing shared by `qkc bench`, the benches and the tuner: warm-up, then sorted wall times. */

/** Wall times (ms, ascending) of `runs` calls after `warmup` calls; `fn` may be sync or async. */
export async function timeRuns(fn: () => unknown, runs: number, warmup = 2): Promise<number[]> {
  return (await timeWallCpu(fn, runs, warmup)).wall;
}

/**
 * Wall and CPU times (ms, each ascending) of `runs` calls after `warmup` calls; `fn` may be
 * sync or async. CPU time is this process's user + system time (process.cpuUsage, read
 * outside the wall time), so it leaves out the time the process waited for a core: on a
 * loaded machine it is the closer estimate of what a single-threaded call costs on an idle
 * one (it still pays for caches and cores shared with other jobs). With worker threads busy
 * it counts their time too.
 */
export async function timeWallCpu(
  fn: () => unknown,
  runs: number,
  warmup = 2,
): Promise<{ wall: number[]; cpu: number[] }> {
  for (let i = 0; i < warmup; i++) await fn();
  const wall: number[] = [];
  const cpu: number[] = [];
  for (let i = 0; i < runs; i++) {
    const c0 = process.cpuUsage();
    const t0 = performance.now();
    await fn();
    wall.push(performance.now() - t0);
    const c = process.cpuUsage(c0);
    cpu.push((c.user + c.system) / 1e3);
  }
  const up = (a: number, b: number) => a - b;
  return { wall: wall.sort(up), cpu: cpu.sort(up) };
}

export const median = (sorted: readonly number[]) => sorted[Math.floor(sorted.length / 2)];
