/**
 * qkc quantize-model: every selected 2-D weight of a safetensors checkpoint
 * quantized and written in an engine's layout; other tensors copied unchanged.
 * One tensor is in memory at a time; every output file is written to a
 * temporary name and renamed when complete (docs/checkpoints.md).
 */
import { createHash } from "node:crypto";
import { mkdirSync, rmSync, statSync } from "node:fs";
import { basename, dirname, join, resolve } from "node:path";
import { runner, type Backend } from "../../backends/runner.js";
import { errorMetrics } from "../../tune/metrics.js";
import { fsReason, UserError } from "../errors.js";
import type { Io } from "../io.js";
import { startProgress } from "../progress.js";
import {
  checkpointFiles,
  createSafetensors,
  isFloat,
  openSafetensors,
  widenToF32,
  type TensorDecl,
  type TensorInfo,
  type TensorSource,
} from "../safetensors.js";
import { resolveScheme } from "../schemes.js";
import { qkcVersion } from "../version.js";
import {
  checkStorable,
  declare,
  encode,
  type LayoutName,
  type Swizzle,
} from "../checkpoint/layouts.js";
import {
  contentSha256,
  finishFolder,
  MANIFEST,
  shardFile,
  shardManifest,
  type Manifest,
  type TensorRecord,
} from "../checkpoint/manifest.js";
import { decide, parseShard, type Decision } from "../checkpoint/plan.js";
import { summaryTable } from "../checkpoint/summary.js";
import { writeFileAtomic } from "../atomic.js";
import { toJson } from "../table.js";
import type { Scheme } from "../../ir/scheme.js";

export interface QuantizeModelOptions {
  scheme?: string;
  include?: string;
  exclude?: string;
  perTensor?: string;
  layout: LayoutName;
  swizzle: Swizzle;
  backend: Backend;
  shard?: string;
  seed: number;
  out: string;
}

/** Output file names: one input file becomes model.safetensors, several keep their names. */
export function outputNames(files: readonly string[]): Map<string, string> {
  const names = files.map((f) => (files.length === 1 ? "model.safetensors" : basename(f)));
  if (new Set(names).size !== names.length)
    throw new UserError(
      `input files share a name (${files.join(", ")}); put the shards of one checkpoint in one folder`,
    );
  return new Map(files.map((f, k) => [f, names[k]]));
}

/** The folder the checkpoint came from, when the input names one (side files are copied from it). */
function sourceFolder(input: string): string | undefined {
  try {
    if (statSync(input).isDirectory()) return input;
  } catch {
    return undefined;
  }
  return input.endsWith(".json") ? dirname(input) : undefined;
}

export function headerSha256(tensors: readonly TensorInfo[]): string {
  const h = createHash("sha256");
  for (const t of tensors) h.update(`${t.name}\0${t.dtype}\0${t.shape.join(",")}\n`);
  return h.digest("hex");
}

export async function runQuantizeModel(
  input: string,
  opts: QuantizeModelOptions,
  io: Io,
): Promise<void> {
  const scheme = opts.scheme
    ? { spec: opts.scheme, scheme: resolveScheme(opts.scheme) }
    : undefined;
  const shard = opts.shard ? parseShard(opts.shard) : undefined;
  const files = checkpointFiles(input);
  const names = outputNames(files);
  const sources: TensorSource[] = [];
  try {
    for (const f of files) sources.push(openSafetensors(f));
    const all = sources.flatMap((s) => s.tensors);
    const seen = new Set<string>();
    for (const t of all) {
      if (seen.has(t.name))
        throw new UserError(`${input}: tensor '${t.name}' appears in two files`);
      seen.add(t.name);
    }
    const decisions = decide(all, { ...opts, scheme, plan: opts.perTensor });
    for (const t of all) {
      const d = decisions.get(t.name)!;
      if (d.action === "quantize") checkStorable(opts.layout, d.scheme, t.name, t.shape);
    }
    const order = new Map(all.map((t, k) => [t.name, k]));
    const mine = (t: TensorInfo) => !shard || order.get(t.name)! % shard.count === shard.index;

    try {
      mkdirSync(opts.out, { recursive: true });
    } catch (e) {
      throw new UserError(`${opts.out}: cannot create the output folder: ${fsReason(e)}`);
    }
    const outPath = (file: string) =>
      join(opts.out, shard ? shardFile(file, shard.index, shard.count) : file);
    const inputs = new Set(files.map((f) => resolve(f)));
    for (const file of names.values())
      if (inputs.has(resolve(outPath(file))))
        throw new UserError(
          `${opts.out}: would overwrite the input ${file}; write to another folder (--out)`,
        );
    const manifestName = shard ? shardManifest(shard.index, shard.count) : MANIFEST;
    rmSync(join(opts.out, manifestName), { force: true }); // the folder reads as incomplete until the end

    const work = all.filter(mine);
    const bar = startProgress(work.length, "tensors");
    const records: TensorRecord[] = [];
    try {
      for (const src of sources) {
        const tensors = src.tensors.filter(mine);
        if (tensors.length === 0) continue;
        const file = names.get(tensors[0].file)!;
        records.push(
          ...(await quantizeFile(src, tensors, decisions, outPath(file), file, order, opts, (n) =>
            bar.tick(n),
          )),
        );
      }
    } finally {
      bar.stop();
    }

    const folder = sourceFolder(input);
    const schemes: Record<string, Scheme> = {};
    for (const d of decisions.values()) if (d.action === "quantize") schemes[d.spec] = d.scheme;
    const manifest: Manifest = {
      format: "qkc-checkpoint",
      qkc: qkcVersion(),
      layout: opts.layout,
      swizzle: opts.swizzle,
      backend: opts.backend,
      seed: opts.seed,
      schemes,
      source: {
        files: files.map((f) => basename(f)),
        ...(folder && { folder: resolve(folder) }),
        tensorCount: all.length,
        headerSha256: headerSha256(all),
        ...(!shard && { sha256: contentSha256(records) }),
      },
      ...(shard && { shard }),
      tensors: records,
    };
    if (shard) await writeFileAtomic(join(opts.out, manifestName), toJson(manifest));
    else await finishFolder(opts.out, manifest, folder, qkcVersion());
    io.stdout(summaryTable(records));
    if (shard)
      io.stdout(
        `shard ${shard.index}/${shard.count} written; join all shards with: qkc merge-shards ${opts.out} --out DIR\n`,
      );
  } finally {
    for (const s of sources) s.close();
  }
}

async function quantizeFile(
  src: TensorSource,
  tensors: readonly TensorInfo[],
  decisions: ReadonlyMap<string, Decision>,
  path: string,
  file: string,
  order: ReadonlyMap<string, number>,
  opts: QuantizeModelOptions,
  tick: (name: string) => void,
): Promise<TensorRecord[]> {
  const layout = { layout: opts.layout, swizzle: opts.swizzle };
  const decls: TensorDecl[] = tensors.flatMap((t) => {
    const d = decisions.get(t.name)!;
    return d.action === "quantize" ? declare(layout, t.name, t.shape, d.scheme) : [t];
  });
  const out = createSafetensors(
    path,
    decls.map(({ name, dtype, shape }) => ({ name, dtype, shape })),
    { format: "pt" },
  );
  const run = runner(opts.backend);
  const records: TensorRecord[] = [];
  try {
    for (const t of tensors) {
      const d = decisions.get(t.name)!;
      const bytes = src.readBytes(t.name);
      const base = {
        name: t.name,
        order: order.get(t.name)!,
        file,
        dtype: t.dtype,
        shape: t.shape,
        sha256: createHash("sha256").update(bytes).digest("hex"),
        bytesBefore: bytes.length,
      };
      if (d.action === "copy" || !isFloat(t.dtype)) {
        out.write(t.name, bytes);
        records.push({ ...base, action: "copy", stored: [t.name], bytesAfter: bytes.length });
      } else {
        const x = widenToF32(t.dtype, bytes);
        const q = await run.quantize(
          d.scheme,
          { dtype: "f32", shape: t.shape, data: x },
          opts.seed,
        );
        const stored = encode(layout, t.name, q);
        for (const s of stored) out.write(s.name, s.bytes);
        const xhat = await run.dequantize(q);
        records.push({
          ...base,
          action: "quantize",
          scheme: d.spec,
          stored: stored.map((s) => s.name),
          bytesAfter: stored.reduce((a, s) => a + s.bytes.length, 0),
          ...(q.tensorScale && { tensorScale: q.tensorScale }),
          qsnrDb: errorMetrics(x, xhat).qsnrDb,
        });
      }
      tick(t.name);
    }
    out.finish();
  } catch (e) {
    out.abort();
    throw e;
  }
  return records;
}
