/**
 * qkc dequantize-model: a quantized checkpoint folder (any layout quantize-model
 * writes, or a ModelOpt / compressed-tensors NVFP4 or MXFP4 folder made
 * elsewhere) back to F32 or BF16 safetensors with the original tensor names.
 * With qkc's manifest the result equals the interpreter's qdq bit for bit.
 */
import { existsSync, mkdirSync, readFileSync } from "node:fs";
import { basename, join } from "node:path";
import { runner, type Backend } from "../../backends/runner.js";
import { bf16, codec, NEAREST_EVEN } from "../../ir/formats/index.js";
import type { Scheme } from "../../ir/scheme.js";
import { builtinScheme } from "../../stdlib/index.js";
import { fsReason, UserError } from "../errors.js";
import type { Io } from "../io.js";
import { startProgress } from "../progress.js";
import {
  createSafetensors,
  openCheckpoint,
  writeIndex,
  type StDType,
  type TensorSource,
} from "../safetensors.js";
import { decode, SWIZZLES, type LayoutName, type Swizzle } from "../checkpoint/layouts.js";
import {
  MANIFEST,
  readManifest,
  type Manifest,
  type TensorRecord,
} from "../checkpoint/manifest.js";

export const OUTPUT_DTYPES = ["f32", "bf16"] as const;
export type OutputDType = (typeof OUTPUT_DTYPES)[number];

export interface DequantizeModelOptions {
  out: string;
  dtype: OutputDType;
  backend: Backend;
  /** for folders without qkc's manifest: how their block scales are stored */
  swizzle: Swizzle;
}

export async function runDequantizeModel(
  input: string,
  opts: DequantizeModelOptions,
  io: Io,
): Promise<void> {
  if (!SWIZZLES.includes(opts.swizzle))
    throw new UserError(`--swizzle: use one of ${SWIZZLES.join(", ")}`);
  const src = openCheckpoint(input);
  try {
    const manifestPath = join(input, MANIFEST);
    const m = existsSync(manifestPath)
      ? readManifest(manifestPath)
      : inferManifest(input, src, opts.swizzle);
    if (m.shard)
      throw new UserError(
        `${input}: holds one shard of a sharded run; join the shards first with qkc merge-shards`,
      );
    try {
      mkdirSync(opts.out, { recursive: true });
    } catch (e) {
      throw new UserError(`${opts.out}: cannot create the output folder: ${fsReason(e)}`);
    }
    const layout = { layout: m.layout, swizzle: m.swizzle };
    const run = runner(opts.backend);
    const outDType: StDType = opts.dtype === "bf16" ? "BF16" : "F32";
    const files = [...new Set(m.tensors.map((t) => t.file))];
    const bar = startProgress(m.tensors.length, "tensors");
    const weightMap: Record<string, string> = {};
    let total = 0;
    try {
      for (const file of files) {
        const tensors = m.tensors.filter((t) => t.file === file).sort((a, b) => a.order - b.order);
        const decls = tensors.map((t) => ({
          name: t.name,
          dtype: t.action === "quantize" ? outDType : t.dtype,
          shape: t.shape,
        }));
        const out = createSafetensors(join(opts.out, file), decls, { format: "pt" });
        try {
          for (const t of tensors) {
            let bytes: Uint8Array;
            if (t.action === "copy") bytes = src.readBytes(t.name);
            else {
              const scheme = m.schemes[t.scheme!];
              const q = decode(
                layout,
                t.name,
                t.shape,
                scheme,
                (n) => src.readBytes(n),
                t.tensorScale,
              );
              const y = await run.dequantize(q);
              bytes =
                opts.dtype === "bf16"
                  ? toBf16Bytes(y)
                  : new Uint8Array(y.buffer, y.byteOffset, y.byteLength);
            }
            out.write(t.name, bytes);
            weightMap[t.name] = file;
            total += bytes.length;
            bar.tick(t.name);
          }
          out.finish();
        } catch (e) {
          out.abort();
          throw e;
        }
      }
    } finally {
      bar.stop();
    }
    if (files.length > 1) await writeIndex(opts.out, weightMap, total);
    const quantized = m.tensors.filter((t) => t.action === "quantize").length;
    io.stdout(
      `dequantized ${quantized} tensors (${m.layout} layout), copied ${m.tensors.length - quantized}, to ${opts.out}\n`,
    );
  } finally {
    src.close();
  }
}

const bf16Encode = codec(bf16).encoder(NEAREST_EVEN, "propagate");

function toBf16Bytes(y: Float32Array): Uint8Array {
  const out = new Uint16Array(y.length);
  for (let i = 0; i < y.length; i++) out[i] = bf16Encode(y[i], 0);
  return new Uint8Array(out.buffer);
}

// ---------------------------------------------------------------------------
// folders written by ModelOpt or compressed-tensors (no qkc manifest)

function readJson(path: string): Record<string, unknown> | undefined {
  try {
    return JSON.parse(readFileSync(path, "utf8")) as Record<string, unknown>;
  } catch {
    return undefined;
  }
}

/** Recognizes the layout from its config files and its quantized weights from their companion tensors. */
function inferManifest(dir: string, src: TensorSource, swizzle: Swizzle): Manifest {
  const hfQuant = readJson(join(dir, "hf_quant_config.json"));
  const config = readJson(join(dir, "config.json"));
  const qc = config?.quantization_config as { quant_method?: string } | undefined;
  let layout: LayoutName;
  if ((hfQuant?.quantization as { quant_algo?: string } | undefined)?.quant_algo === "NVFP4")
    layout = "modelopt";
  else if (qc?.quant_method === "compressed-tensors") layout = "compressed-tensors";
  else
    throw new UserError(
      `${dir}: no ${MANIFEST}, no NVFP4 hf_quant_config.json and no compressed-tensors config.json; it is not a checkpoint qkc can read back`,
    );
  const has = new Set(src.tensors.map((t) => t.name));
  const companions = new Set<string>();
  const quantized = new Map<string, { shape: number[]; scheme: string }>();
  for (const t of src.tensors) {
    const base = layout === "modelopt" ? t.name : t.name.replace(/_packed$/, "");
    const packed = layout === "modelopt" ? t.name : `${base}_packed`;
    if (t.dtype !== "U8" || t.shape.length !== 2 || packed !== t.name || !has.has(`${base}_scale`))
      continue;
    if (layout === "modelopt" && !has.has(`${base}_scale_2`)) continue;
    const nv = layout === "modelopt" || has.has(`${base}_global_scale`);
    quantized.set(base, { shape: [t.shape[0], t.shape[1] * 2], scheme: nv ? "nvfp4" : "mxfp4" });
    for (const s of ["_scale", "_scale_2", "_global_scale"]) companions.add(base + s);
    companions.add(packed);
  }
  const schemes: Record<string, Scheme> = {
    nvfp4: builtinScheme("nvfp4")!,
    mxfp4: builtinScheme("mxfp4")!,
  };
  const tensors: TensorRecord[] = [];
  const order = new Map(src.tensors.map((t, k) => [t.name, k]));
  const common = (stored: string) => ({
    file: basename(src.info(stored).file),
    sha256: "",
    bytesBefore: 0,
    bytesAfter: 0,
  });
  const packedName = (name: string) => (layout === "modelopt" ? name : `${name}_packed`);
  for (const [name, q] of quantized)
    tensors.push({
      ...common(packedName(name)),
      name,
      order: order.get(packedName(name))!,
      action: "quantize",
      dtype: "F32",
      shape: q.shape,
      stored: [],
      scheme: q.scheme,
    });
  for (const t of src.tensors)
    if (!companions.has(t.name))
      tensors.push({
        ...common(t.name),
        name: t.name,
        order: order.get(t.name)!,
        action: "copy",
        dtype: t.dtype,
        shape: t.shape,
        stored: [t.name],
      });
  return {
    format: "qkc-checkpoint",
    qkc: "",
    layout,
    swizzle,
    backend: "",
    seed: 0,
    schemes,
    source: { files: [], headerSha256: "", tensorCount: src.tensors.length },
    tensors,
  };
}
