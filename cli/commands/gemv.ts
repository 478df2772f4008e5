/** qkc gemv: y = W x with W quantized by a scheme, in the scheme's declared reduction order. */
import { runner } from "../../backends/runner.js";
import { toFloat32 } from "../../ir/tensor.js";
import { UserError } from "../errors.js";
import { readTensor, writeNpy } from "../npy.js";
import { resolveScheme, type Backend } from "../schemes.js";

export interface GemvOptions {
  weights: string;
  x: string;
  out: string;
  backend: Backend;
}

export async function runGemv(schemeName: string, opts: GemvOptions): Promise<void> {
  const scheme = resolveScheme(schemeName);
  const { tensor: w } = await readTensor(opts.weights);
  const { tensor: x } = await readTensor(opts.x);
  if (w.shape.length !== 2) throw new UserError(`${opts.weights}: weights must be 2-D [N, K], got shape [${w.shape.join(", ")}]`);
  const K = w.shape[1];
  if (x.data.length !== K)
    throw new UserError(`${opts.x}: x has ${x.data.length} elements but the weights have K = ${K} columns; give x of shape [${K}]`);
  const run = runner(opts.backend);
  const y = await run.gemv(await run.quantize(scheme, w), toFloat32(x));
  await writeNpy(opts.out, { dtype: "f32", shape: [w.shape[0]], data: y });
}
