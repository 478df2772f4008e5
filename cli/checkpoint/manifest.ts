/**
 * qkc-manifest.json: what a quantized checkpoint folder holds (layout, swizzle,
 * each tensor's scheme, source hash and stored names), and the files engines
 * read beside the weights (hf_quant_config.json, config.json's
 * quantization_config, the shard index). quantize-model and merge-shards both
 * finish a folder through `finishFolder`.
 */
import { createHash } from "node:crypto";
import { copyFileSync, existsSync, readdirSync, readFileSync, statSync } from "node:fs";
import { basename, join } from "node:path";
import type { Scheme } from "../../ir/scheme.js";
import { writeFileAtomic } from "../atomic.js";
import { UserError } from "../errors.js";
import { INDEX_FILE, writeIndex, type StDType } from "../safetensors.js";
import { toJson } from "../table.js";
import { engineFormat, type LayoutName, type Swizzle, type TensorScaleRecord } from "./layouts.js";

export const MANIFEST = "qkc-manifest.json";
export const shardManifest = (i: number, n: number) => `qkc-manifest.shard-${i}-of-${n}.json`;
export const shardFile = (file: string, i: number, n: number) =>
  file.replace(/\.safetensors$/, `.shard-${i}-of-${n}.safetensors`);

export interface TensorRecord {
  readonly name: string;
  /** position in the source checkpoint: output files keep this order */
  readonly order: number;
  /** output file (final name, also for shard runs) */
  readonly file: string;
  readonly action: "quantize" | "copy";
  readonly dtype: StDType;
  readonly shape: readonly number[];
  /** sha256 of the source tensor's bytes */
  readonly sha256: string;
  /** names written to the output file */
  readonly stored: readonly string[];
  readonly bytesBefore: number;
  readonly bytesAfter: number;
  /** the scheme spec (a key of Manifest.schemes) */
  readonly scheme?: string;
  readonly tensorScale?: TensorScaleRecord;
  readonly qsnrDb?: number;
}

export interface Manifest {
  readonly format: "qkc-checkpoint";
  readonly qkc: string;
  readonly layout: LayoutName;
  readonly swizzle: Swizzle;
  readonly backend: string;
  readonly seed: number;
  readonly schemes: Readonly<Record<string, Scheme>>;
  readonly source: {
    readonly files: readonly string[];
    /** the folder it was read from, when the input named one (side files are copied from it) */
    readonly folder?: string;
    readonly tensorCount: number;
    /** sha256 of the source's tensor list (names, dtypes, shapes): equal across shards */
    readonly headerSha256: string;
    /** sha256 over every tensor's sha256 in order (whole checkpoints only) */
    readonly sha256?: string;
  };
  readonly shard?: { readonly index: number; readonly count: number };
  readonly tensors: readonly TensorRecord[];
}

export function readManifest(path: string): Manifest {
  let m: Manifest;
  try {
    m = JSON.parse(readFileSync(path, "utf8")) as Manifest;
  } catch (e) {
    throw new UserError(
      `${path}: cannot read the qkc manifest (${(e as Error).message}); re-run qkc quantize-model`,
    );
  }
  if (m?.format !== "qkc-checkpoint" || !Array.isArray(m.tensors))
    throw new UserError(`${path}: not a qkc checkpoint manifest; re-run qkc quantize-model`);
  return m;
}

export function contentSha256(tensors: readonly TensorRecord[]): string {
  const h = createHash("sha256");
  for (const t of [...tensors].sort((a, b) => a.order - b.order))
    h.update(`${t.name}\0${t.sha256}\n`);
  return h.digest("hex");
}

/** Module names of 2-D weights left in full precision: what engines must not treat as quantized. */
function unquantizedModules(m: Manifest): string[] {
  return m.tensors
    .filter((t) => t.action === "copy" && t.shape.length === 2 && t.name.endsWith(".weight"))
    .map((t) => t.name.slice(0, -".weight".length));
}

function hfQuantConfig(m: Manifest, version: string) {
  return {
    producer: { name: "qkc", version },
    quantization: {
      quant_algo: "NVFP4",
      kv_cache_quant_algo: null,
      group_size: 16,
      exclude_modules: unquantizedModules(m),
    },
  };
}

/** config.json's quantization_config for compressed-tensors: one group per stored format. */
function compressedTensorsConfig(m: Manifest) {
  const quantized = m.tensors.filter((t) => t.action === "quantize");
  const byFormat = new Map<string, string[]>();
  for (const t of quantized) {
    const f = engineFormat(m.schemes[t.scheme!])!;
    byFormat.set(f, [...(byFormat.get(f) ?? []), t.name.replace(/\.weight$/, "")]);
  }
  const formatName = (f: string) => `${f}-pack-quantized`;
  const groups = Object.fromEntries(
    [...byFormat].map(([f, modules], k) => [
      `group_${k}`,
      {
        targets: byFormat.size === 1 ? ["Linear"] : modules,
        weights: {
          num_bits: 4,
          type: "float",
          symmetric: true,
          group_size: f === "nvfp4" ? 16 : 32,
          strategy: f === "nvfp4" ? "tensor_group" : "group",
          dynamic: false,
          actorder: null,
          block_structure: null,
          observer: "minmax",
          observer_kwargs: {},
        },
        input_activations: null,
        output_activations: null,
        format: formatName(f),
      },
    ]),
  );
  return {
    quant_method: "compressed-tensors",
    format: byFormat.size === 1 ? formatName([...byFormat.keys()][0]) : "mixed-precision",
    quantization_status: "compressed",
    config_groups: groups,
    ignore: unquantizedModules(m),
    kv_cache_scheme: null,
    global_compression_ratio: null,
  };
}

/** Files beside the weights that a loader wants (tokenizer, generation config...), copied as they are. */
function sideFiles(dir: string): string[] {
  const skip = /\.(safetensors|bin|pt|pth|gguf|msgpack|h5|ckpt)$/;
  return readdirSync(dir).filter(
    (f) =>
      !skip.test(f) &&
      ![INDEX_FILE, MANIFEST, "config.json", "hf_quant_config.json"].includes(f) &&
      !f.startsWith("qkc-manifest.") &&
      statSync(join(dir, f)).isFile(),
  );
}

/**
 * Writes the index (several output files), the engine config files, copies
 * side files from `sourceDir`, and the manifest last: a folder without
 * qkc-manifest.json is incomplete.
 */
export async function finishFolder(
  out: string,
  m: Manifest,
  sourceDir: string | undefined,
  version: string,
): Promise<void> {
  const files = [...new Set(m.tensors.map((t) => t.file))];
  if (files.length > 1) {
    const weightMap: Record<string, string> = {};
    for (const t of m.tensors) for (const s of t.stored) weightMap[s] = t.file;
    await writeIndex(
      out,
      weightMap,
      m.tensors.reduce((a, t) => a + t.bytesAfter, 0),
    );
  }
  let config: Record<string, unknown> | undefined;
  if (sourceDir && existsSync(sourceDir)) {
    for (const f of sideFiles(sourceDir)) copyFileSync(join(sourceDir, f), join(out, basename(f)));
    try {
      config = JSON.parse(readFileSync(join(sourceDir, "config.json"), "utf8")) as Record<
        string,
        unknown
      >;
    } catch {
      config = undefined; // no (readable) config.json in the source folder
    }
  }
  if (m.layout === "modelopt") {
    await writeFileAtomic(
      join(out, "hf_quant_config.json"),
      JSON.stringify(hfQuantConfig(m, version), null, 2) + "\n",
    );
    if (config)
      await writeFileAtomic(join(out, "config.json"), JSON.stringify(config, null, 2) + "\n");
  } else if (m.layout === "compressed-tensors") {
    const full = { ...(config ?? {}), quantization_config: compressedTensorsConfig(m) };
    await writeFileAtomic(join(out, "config.json"), JSON.stringify(full, null, 2) + "\n");
  } else if (config) {
    await writeFileAtomic(join(out, "config.json"), JSON.stringify(config, null, 2) + "\n");
  }
  await writeFileAtomic(join(out, MANIFEST), toJson(m));
}
