/**
 * qkc merge-shards: joins the outputs of `quantize-model --shard i/n` runs
 * (in one folder or several) into one checkpoint folder, as if quantize-model
 * had run once. Every shard must be present exactly once and all must come
 * from the same source checkpoint with the same options.
 */
import { mkdirSync, readdirSync } from "node:fs";
import { join } from "node:path";
import { fsReason, UserError } from "../errors.js";
import type { Io } from "../io.js";
import { startProgress } from "../progress.js";
import { createSafetensors, openSafetensors, type TensorSource } from "../safetensors.js";
import { summaryTable } from "../checkpoint/summary.js";
import {
  contentSha256,
  finishFolder,
  readManifest,
  shardFile,
  type Manifest,
  type TensorRecord,
} from "../checkpoint/manifest.js";
import { qkcVersion } from "../version.js";

const SHARD_MANIFEST = /^qkc-manifest\.shard-(\d+)-of-(\d+)\.json$/;

interface Shard {
  readonly dir: string;
  readonly manifest: Manifest;
}

function findShards(dirs: readonly string[]): Shard[] {
  const shards: Shard[] = [];
  for (const dir of dirs) {
    let names: string[];
    try {
      names = readdirSync(dir);
    } catch (e) {
      throw new UserError(`${dir}: cannot read the folder: ${fsReason(e)}`);
    }
    for (const n of names.filter((f) => SHARD_MANIFEST.test(f)).sort())
      shards.push({ dir, manifest: readManifest(join(dir, n)) });
  }
  if (shards.length === 0)
    throw new UserError(
      `${dirs.join(", ")}: no qkc-manifest.shard-*.json; run qkc quantize-model --shard i/n --out DIR first`,
    );
  return shards;
}

/** The shards, sorted by index, after checking that together they are one whole run. */
function checkShards(shards: readonly Shard[]): Shard[] {
  const first = shards[0].manifest;
  const n = first.shard!.count;
  const same = (m: Manifest) =>
    m.shard?.count === n &&
    m.layout === first.layout &&
    m.swizzle === first.swizzle &&
    m.seed === first.seed &&
    m.source.headerSha256 === first.source.headerSha256 &&
    JSON.stringify(m.schemes) === JSON.stringify(first.schemes);
  for (const s of shards)
    if (!same(s.manifest))
      throw new UserError(
        `${s.dir}: shard ${s.manifest.shard?.index}/${s.manifest.shard?.count} comes from another run (source, scheme, layout, seed or shard count differ); merge shards of one run only`,
      );
  const byIndex = new Map<number, Shard>();
  for (const s of shards) {
    const i = s.manifest.shard!.index;
    if (byIndex.has(i))
      throw new UserError(
        `shard ${i}/${n} is present twice (${byIndex.get(i)!.dir} and ${s.dir}); keep one`,
      );
    byIndex.set(i, s);
  }
  const missing = [...Array(n).keys()].filter((i) => !byIndex.has(i));
  if (missing.length > 0)
    throw new UserError(
      `shards ${missing.map((i) => `${i}/${n}`).join(", ")} are missing; run quantize-model --shard for them first`,
    );
  return [...Array(n).keys()].map((i) => byIndex.get(i)!);
}

export async function runMergeShards(
  dirs: readonly string[],
  opts: { out: string },
  io: Io,
): Promise<void> {
  const shards = checkShards(findShards(dirs));
  const first = shards[0].manifest;
  const n = first.shard!.count;
  const owner = new Map<string, Shard>();
  const records: TensorRecord[] = [];
  for (const s of shards)
    for (const t of s.manifest.tensors) {
      owner.set(t.name, s);
      records.push(t);
    }
  records.sort((a, b) => a.order - b.order);
  if (records.length !== first.source.tensorCount)
    throw new UserError(
      `the shards hold ${records.length} of the source's ${first.source.tensorCount} tensors; re-run the incomplete shards`,
    );
  try {
    mkdirSync(opts.out, { recursive: true });
  } catch (e) {
    throw new UserError(`${opts.out}: cannot create the output folder: ${fsReason(e)}`);
  }

  const open = new Map<string, TensorSource>();
  const source = (t: TensorRecord): TensorSource => {
    const s = owner.get(t.name)!;
    const path = join(s.dir, shardFile(t.file, s.manifest.shard!.index, n));
    let f = open.get(path);
    if (!f) open.set(path, (f = openSafetensors(path)));
    return f;
  };
  const bar = startProgress(records.length, "tensors");
  try {
    for (const file of [...new Set(records.map((t) => t.file))]) {
      const tensors = records.filter((t) => t.file === file);
      const decls = tensors.flatMap((t) =>
        t.stored.map((name) => {
          const { dtype, shape } = source(t).info(name);
          return { name, dtype, shape };
        }),
      );
      const out = createSafetensors(join(opts.out, file), decls, { format: "pt" });
      try {
        for (const t of tensors) {
          for (const name of t.stored) out.write(name, source(t).readBytes(name));
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
    for (const f of open.values()) f.close();
  }
  const manifest: Manifest = {
    ...first,
    shard: undefined,
    source: { ...first.source, sha256: contentSha256(records) },
    tensors: records,
  };
  await finishFolder(opts.out, manifest, first.source.folder, qkcVersion());
  io.stdout(summaryTable(records));
}
