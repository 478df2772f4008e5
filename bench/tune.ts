/**
 * `npm run bench -- tune`: the full sweep of qkc tune (block 16..256 x scale
 * e8m0/e4m3/f16 x rule floor/rceil/amax x rotation none/hadamard) of MXFP4 on
 * one synthetic Student-t tensor, once in this thread and once over worker
 * threads: wall time, the parallel speed-up, and the Pareto front it finds.
 */
import { availableParallelism } from "node:os";
import { standardScope } from "../dsl/load.js";
import { builtinScheme } from "../stdlib/index.js";
import { paretoFront } from "../tune/pareto.js";
import { summarize } from "../tune/summary.js";
import { sweep } from "../tune/sweep.js";
import { synthetic } from "../tune/synthetic.js";
import { buildVariants } from "../tune/variants.js";

export async function benchTune(rows = 256, cols = 4096) {
  const data = synthetic({ kind: "student-t", nu: 4 }, rows * cols, 5);
  const tensor = { name: "student-t:4", shape: [rows, cols], load: async () => data };
  const { variants, skipped } = buildVariants(
    [builtinScheme("mxfp4")!],
    { block: [16, 32, 64, 128, 256], scale: ["e8m0", "e4m3", "f16"], rule: ["floor", "rceil", "amax"], rotate: ["none", "hadamard"] },
    { formats: standardScope().formats, seed: 0, lastAxis: [cols] },
  );
  const out: { jobs: number; variants: number; skipped: number; failures: number; seconds: number }[] = [];
  let front: string[] = [];
  for (const jobs of [1, availableParallelism()]) {
    const t0 = performance.now();
    const r = await sweep([tensor], variants, { backend: "wasm", seed: 0, runs: 3, jobs });
    const seconds = (performance.now() - t0) / 1000;
    out.push({ jobs, variants: variants.length, skipped: skipped.length, failures: r.failures.length, seconds: +seconds.toFixed(1) });
    front = paretoFront(variants.map((v) => summarize(v, r.measurements.filter((m) => m.variant === v.name)))).map(
      (s) => `${s.variant} ${s.bitsPerElement.toFixed(3)} b ${s.qsnrDb.toFixed(2)} dB`,
    );
  }
  return { rows: out.map((r) => ({ ...r, speedup: +(out[0].seconds / r.seconds).toFixed(2) })), front };
}
