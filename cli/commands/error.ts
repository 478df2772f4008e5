/** qkc error: quantization error of schemes on a .npy tensor or a synthetic one. */
import { runner } from "../../backends/runner.js";
import { toFloat32, type Tensor } from "../../ir/tensor.js";
import { errorMetrics } from "../../tune/metrics.js";
import { distributionName, synthetic, type Distribution } from "../../tune/synthetic.js";
import { UserError } from "../errors.js";
import type { Io } from "../io.js";
import { readTensor } from "../npy.js";
import { bitsForShape, resolveSchemes, type Backend } from "../schemes.js";
import { fmtExp, fmtFixed, fmtNumber, renderTable, toJson } from "../table.js";

export interface ErrorOptions {
  in?: string;
  synthetic?: Distribution;
  shape: number[];
  seed: number;
  backend: Backend;
  json?: boolean;
}

async function input(
  opts: ErrorOptions,
): Promise<{ tensor: Tensor; source: Record<string, unknown> }> {
  if (opts.in) {
    const { tensor } = await readTensor(opts.in);
    return { tensor, source: { file: opts.in, shape: tensor.shape, dtype: tensor.dtype } };
  }
  if (!opts.synthetic)
    throw new UserError(
      `no input tensor; give --in FILE.npy or --synthetic DIST (e.g. --synthetic gaussian)`,
    );
  const data = synthetic(
    opts.synthetic,
    opts.shape.reduce((a, b) => a * b, 1),
    opts.seed,
  );
  const source = {
    synthetic: distributionName(opts.synthetic),
    shape: opts.shape,
    seed: opts.seed,
  };
  return { tensor: { dtype: "f32", shape: opts.shape, data }, source };
}

export async function runError(schemeNames: string[], opts: ErrorOptions, io: Io): Promise<void> {
  const schemes = resolveSchemes(schemeNames);
  const { tensor, source } = await input(opts);
  const x = toFloat32(tensor);
  const run = runner(opts.backend);
  const results = [];
  for (const s of schemes)
    results.push({
      scheme: s.name,
      bitsPerElement: bitsForShape(s, tensor.shape),
      ...errorMetrics(x, await run.qdq(s, tensor, opts.seed)),
    });

  if (opts.json) {
    io.stdout(toJson({ input: source, backend: opts.backend, results }));
    return;
  }
  const what = opts.in ? opts.in : `synthetic ${source.synthetic}, seed ${opts.seed}`;
  io.stdout(`input: ${what}, shape [${tensor.shape.join(", ")}], ${tensor.dtype}\n`);
  const right = "right" as const;
  io.stdout(
    renderTable(
      [
        { header: "scheme" },
        { header: "bits/elem", align: right },
        { header: "MSE", align: right },
        { header: "QSNR dB", align: right },
        { header: "max abs err", align: right },
        { header: "non-finite", align: right },
      ],
      results.map((r) => [
        r.scheme,
        fmtFixed(r.bitsPerElement, 4),
        fmtExp(r.mse),
        Number.isFinite(r.qsnrDb) ? r.qsnrDb.toFixed(2) : String(r.qsnrDb),
        fmtNumber(r.maxAbsError),
        String(r.nonFiniteOutputs),
      ]),
    ),
  );
  const skipped = results[0]?.nonFiniteInputs ?? 0;
  if (skipped > 0) io.stdout(`${skipped} non-finite input values were left out of every metric.\n`);
}
