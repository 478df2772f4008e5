/** Median wall time of `runs` calls after `warmup` calls, in milliseconds. */
export function medianMs(fn: () => unknown, runs: number, warmup = 2): number {
  for (let i = 0; i < warmup; i++) fn();
  const times: number[] = [];
  for (let i = 0; i < runs; i++) {
    const t0 = performance.now();
    fn();
    times.push(performance.now() - t0);
  }
  times.sort((a, b) => a - b);
  return times[Math.floor(times.length / 2)];
}

/**
 * Wall and CPU times (ms, each ascending) of `runs` calls after `warmup` calls; `fn` may be
 * sync or async. CPU time is this process's user + system time (process.cpuUsage), so it
 * leaves out the time the process waited for a core: on a loaded machine it is the closer
 * estimate of what a single-threaded call costs on an idle one (it still pays for caches and
 * cores shared with other jobs). With worker threads busy it counts their time too.
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
