/**
 * qkc quantize: codes, raw scale codes (and zero points, double-quantized
 * scales) as .npy files, plus a manifest.json that says what they mean.
 */
import { createHash } from "node:crypto";
import { mkdir, rm } from "node:fs/promises";
import { join } from "node:path";
import type { QuantizedTensor } from "../../ir/interpret/index.js";
import { runner } from "../../backends/runner.js";
import { writeFileAtomic } from "../atomic.js";
import { fsReason, UserError } from "../errors.js";
import { codesArray, readTensor, writeNpy, type NpyArray } from "../npy.js";
import { bitsForShape, resolveScheme, type Backend } from "../schemes.js";
import { toJson } from "../table.js";
import type { ScaleLayout } from "../../ir/program.js";
import { describeScaleLayout } from "../../ir/layout/scale-placement.js";
import { placementProblem, quantizePlaced } from "../../backends/quantize-scale-layout.js";
import { qkcVersion } from "../version.js";

export interface QuantizeOptions {
  in: string;
  out: string;
  backend: Backend;
  seed: number;
  /** where scales.npy holds the scales (nvidia_128x4: [pad(rows, 128), pad(K/block, 4)], padding 0) */
  scaleLayout?: ScaleLayout;
}

/** Every array file quantize may write; stale ones from an earlier run are removed. */
const ARRAY_FILES = ["codes", "scales", "zeros", "dq_codes", "dq_scales", "dq_zeros"];

function arrays(q: QuantizedTensor, prefix = ""): [string, NpyArray][] {
  const out: [string, NpyArray][] = [
    [`${prefix}codes`, codesArray(q.shape, q.codes)],
    [`${prefix}scales`, codesArray(q.scaleShape, q.scales)],
  ];
  if (q.zeros) out.push([`${prefix}zeros`, codesArray(q.scaleShape, q.zeros)]);
  if (q.doubleQuant) out.push(...arrays(q.doubleQuant.scales, "dq_"));
  return out;
}

export async function runQuantize(schemeName: string, opts: QuantizeOptions): Promise<void> {
  const scheme = resolveScheme(schemeName);
  const { tensor, bytes } = await readTensor(opts.in);
  const layout = opts.scaleLayout ?? "plain";
  if (layout !== "plain") {
    const problem = placementProblem(scheme, tensor.shape, layout);
    if (problem) throw new UserError(problem);
  }
  // placed scales come from the kernel of that layout (scaleShape is then the padded one)
  const q: QuantizedTensor =
    layout === "plain"
      ? await runner(opts.backend).quantize(scheme, tensor, opts.seed)
      : {
          scheme,
          shape: tensor.shape,
          ...(await quantizePlaced(opts.backend, scheme, tensor, layout, opts.seed)),
        };

  try {
    await mkdir(opts.out, { recursive: true });
  } catch (e) {
    throw new UserError(`${opts.out}: cannot create the output folder: ${fsReason(e)}`);
  }
  // Without a manifest the folder reads as incomplete until the last write.
  await rm(join(opts.out, "manifest.json"), { force: true });
  const files: Record<string, { file: string; dtype: string; shape: readonly number[] }> = {};
  for (const [name, a] of arrays(q)) {
    await writeNpy(join(opts.out, `${name}.npy`), a);
    files[name] = { file: `${name}.npy`, dtype: a.dtype, shape: a.shape };
  }
  for (const name of ARRAY_FILES)
    if (!(name in files)) await rm(join(opts.out, `${name}.npy`), { force: true });

  const { name, ...schemeFields } = scheme; // name first, for readers of the JSON
  const manifest = {
    qkc: qkcVersion(),
    backend: opts.backend,
    scheme: { name, ...schemeFields, bitsPerElement: bitsForShape(scheme, tensor.shape) },
    input: {
      file: opts.in,
      shape: tensor.shape,
      dtype: tensor.dtype,
      sha256: createHash("sha256").update(bytes).digest("hex"),
    },
    seed: opts.seed,
    scaleLayout: describeScaleLayout(layout),
    files,
    ...(q.tensorScale && { tensorScale: q.tensorScale }),
    ...(q.doubleQuant && {
      doubleQuant: {
        offset: q.doubleQuant.offset,
        ...(q.doubleQuant.scales.tensorScale && { tensorScale: q.doubleQuant.scales.tensorScale }),
        note: "scales.npy holds the f32 block scales before compression; dequantization uses dq_codes/dq_scales (the scales quantized 1-D by scheme.doubleQuant.scheme) plus offset",
      },
    }),
  };
  await writeFileAtomic(join(opts.out, "manifest.json"), toJson(manifest));
}
