/** qkc qdq: fake quantization of a .npy tensor, written as float32 of the same shape. */
import { runner } from "../../backends/runner.js";
import { readTensor, writeNpy } from "../npy.js";
import { resolveScheme, type Backend } from "../schemes.js";

export interface QdqOptions {
  in: string;
  out: string;
  backend: Backend;
  seed: number;
}

export async function runQdq(schemeName: string, opts: QdqOptions): Promise<void> {
  const scheme = resolveScheme(schemeName);
  const { tensor } = await readTensor(opts.in);
  const data = await runner(opts.backend).qdq(scheme, tensor, opts.seed);
  await writeNpy(opts.out, { dtype: "f32", shape: tensor.shape, data });
}
