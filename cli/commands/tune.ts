/**
 * qkc tune: sweep variants of schemes (block size, scale format and rule,
 * rotation, rounding) over tensors, measure each, and write the table, the
 * report, the Pareto chart and the recommended .qs schemes.
 */
import { mkdir } from "node:fs/promises";
import { InvalidArgumentError, Option, type Command } from "commander";
import { dirname, join, relative } from "node:path";
import { BACKENDS, type Backend } from "../../backends/runner.js";
import { standardScope } from "../../dsl/load.js";
import { ROUNDING_MODES, type Format, type RoundingMode } from "../../ir/formats/index.js";
import { SCALE_RULES, type ScaleRule, type Scheme } from "../../ir/scheme.js";
import { toFloat32 } from "../../ir/tensor.js";
import { storageBits, type Measurement } from "../../tune/measure.js";
import { paretoFront } from "../../tune/pareto.js";
import { qsFile, type QsScheme } from "../../tune/qs.js";
import { allocate, bestUnderBudget, type Allocation, type TensorChoice } from "../../tune/recommend.js";
import { summaryTable } from "../../tune/report.js";
import { summarize, type VariantSummary } from "../../tune/summary.js";
import { defaultJobs, sweep, type TensorSource } from "../../tune/sweep.js";
import {
  DISTRIBUTIONS,
  distributionName,
  parseDistribution,
  synthetic,
  syntheticWithCrest,
  type Distribution,
} from "../../tune/synthetic.js";
import { buildVariants, ROTATE_CHOICES, type Axes, type RotateChoice, type Variant } from "../../tune/variants.js";
import { writeFileAtomic } from "../atomic.js";
import { fsReason, UserError } from "../errors.js";
import type { Io } from "../io.js";
import { readTensor } from "../npy.js";
import { startProgress } from "../progress.js";
import { isFloat, openCheckpoint } from "../safetensors.js";
import { parseBackend, resolveScheme } from "../schemes.js";
import { fmtFixed, toJson } from "../table.js";
import { qkcVersion } from "../version.js";

export interface TuneOptions {
  tensor?: string[];
  synthetic?: Distribution;
  crest?: number[];
  shape: number[];
  block?: number[];
  scale?: string[];
  rule?: ScaleRule[];
  rotate?: RotateChoice[];
  rounding?: RoundingMode[];
  backend: Backend;
  budgetBits?: number[];
  perTensor?: boolean;
  out: string;
  jobs: number;
  runs: number;
  seed: number;
}

interface InputTensor extends TensorSource {
  readonly source: Record<string, unknown>;
}

/**
 * `x.npy` (read now: .npy files are small next to checkpoints), or
 * `ckpt.safetensors[:name,...]` (also a folder, an index.json, or a comma list
 * of shards), whose tensors are read one at a time when first needed.
 */
async function tensorsOf(spec: string, opened: { close(): void }[]): Promise<InputTensor[]> {
  if (spec.endsWith(".npy")) {
    const { tensor } = await readTensor(spec);
    const data = toFloat32(tensor);
    return [{ name: spec, shape: tensor.shape, source: { file: spec, shape: tensor.shape, dtype: tensor.dtype }, load: async () => data }];
  }
  const [, file, names] = /^(.*?)(?::([^:/\\]+))?$/.exec(spec)!;
  const ckpt = openCheckpoint(file);
  opened.push(ckpt);
  const wanted = names?.split(",").filter((n) => n !== "");
  const infos = wanted ? wanted.map((n) => ckpt.info(n)) : ckpt.tensors.filter((t) => isFloat(t.dtype));
  for (const t of infos)
    if (!isFloat(t.dtype))
      throw new UserError(`${file}: tensor '${t.name}' is ${t.dtype}; qkc tune reads F32, F16 and BF16 tensors`);
  if (infos.length === 0) throw new UserError(`${file}: no F32, F16 or BF16 tensors to tune on`);
  return infos.map((t) => ({
    name: t.name,
    shape: t.shape,
    source: { file: t.file, tensor: t.name, dtype: t.dtype, shape: t.shape },
    load: async () => ckpt.readF32(t.name),
  }));
}

async function inputs(opts: TuneOptions, group: number, opened: { close(): void }[]): Promise<InputTensor[]> {
  if (opts.tensor?.length) {
    if (opts.crest) throw new UserError(`--crest shapes synthetic tensors; use it with --synthetic, not --tensor`);
    const lists = [];
    for (const spec of opts.tensor) lists.push(await tensorsOf(spec, opened));
    return lists.flat();
  }
  if (!opts.synthetic)
    throw new UserError(
      `no tensor to tune on; give --tensor FILE (.npy or .safetensors) or --synthetic DIST (e.g. --synthetic gaussian --crest 2,4)`,
    );
  const d = opts.synthetic;
  const count = opts.shape.reduce((a, b) => a * b, 1);
  const crests = opts.crest ?? [undefined];
  return crests.map((crest, i) => {
    const name = crest === undefined ? distributionName(d) : `${distributionName(d)} crest ${crest}`;
    const seed = opts.seed + i;
    return {
      name,
      shape: opts.shape,
      source: { synthetic: distributionName(d), shape: opts.shape, seed, ...(crest === undefined ? {} : { crest, crestGroup: group }) },
      load: async () => (crest === undefined ? synthetic(d, count, seed) : syntheticWithCrest(d, count, seed, crest, group)),
    };
  });
}

/** The smallest block swept (or the base's): synthetic crest groups of this size give every swept block that crest. */
function crestGroup(bases: readonly Scheme[], axes: Axes): number {
  const sizes = bases.flatMap((s) => axesFor(s, axes).block ?? (s.block.kind === "axis" && s.block.size !== "all" ? [s.block.size] : []));
  return sizes.length ? Math.min(...sizes) : 32;
}

/** Block sizes swept when --block is not given, for schemes with a 1-D block of a fixed size. */
export const DEFAULT_BLOCKS = [8, 16, 32, 64, 128, 256];

function axesFor(s: Scheme, axes: Axes): Axes {
  const fixed1d = s.block.kind === "axis" && typeof s.block.size === "number";
  return axes.block || !fixed1d ? axes : { ...axes, block: DEFAULT_BLOCKS };
}

function qsEntry(v: Variant, s: VariantSummary, doc: string[]): QsScheme {
  return {
    scheme: v.scheme,
    doc: [...doc, `${fmtFixed(s.bitsPerElement, 4)} bits/element, QSNR ${s.qsnrDb.toFixed(2)} dB (qkc tune)`],
    ...(v.rotate ? { rotate: v.rotate } : {}),
  };
}

export async function runTune(schemeSpecs: string[], opts: TuneOptions, io: Io): Promise<void> {
  const bases = schemeSpecs.map(resolveScheme);
  const qsSources = schemeSpecs.flatMap((s) => /^(.*\.qs)(?::[A-Za-z_]\w*)?$/.exec(s)?.[1] ?? []);
  const axes: Axes = {
    ...(opts.block ? { block: opts.block } : {}),
    ...(opts.scale ? { scale: opts.scale } : {}),
    ...(opts.rule ? { rule: opts.rule } : {}),
    ...(opts.rotate ? { rotate: opts.rotate } : {}),
    ...(opts.rounding ? { rounding: opts.rounding } : {}),
  };
  const formats = new Map(standardScope().formats);
  for (const b of bases) {
    formats.set(b.element.name, b.element);
    formats.set(b.scale.format.name, b.scale.format);
  }
  for (const name of opts.scale ?? [])
    if (!formats.has(name))
      throw new UserError(`--scale ${name}: no such format; \`qkc list\` shows the formats (e.g. e8m0, e4m3, f16)`);
  if (opts.perTensor && opts.budgetBits?.length !== 1)
    throw new UserError(`--per-tensor needs one global budget: add --budget-bits B (e.g. --budget-bits 4.5)`);

  const opened: { close(): void }[] = [];
  try {
    await tune(bases, qsSources, axes, formats, await inputs(opts, crestGroup(bases, axes), opened), opts, io);
  } finally {
    for (const f of opened) f.close();
  }
}

async function tune(
  bases: readonly Scheme[],
  qsSources: readonly string[],
  axes: Axes,
  formats: ReadonlyMap<string, Format>,
  tensors: readonly InputTensor[],
  opts: TuneOptions,
  io: Io,
): Promise<void> {
  const built = bases.map((b) =>
    buildVariants([b], axesFor(b, axes), { formats, seed: opts.seed, lastAxis: tensors.map((t) => t.shape.at(-1) ?? 1) }),
  );
  const variants = built.flatMap((r) => r.variants);
  const skipped = built.flatMap((r) => r.skipped);
  for (const s of skipped) io.stderr(`skipped ${s.name}: ${s.reason}\n`);
  if (variants.length === 0) throw new UserError(`every variant was skipped (reasons above); change the sweep axes`);

  try {
    await mkdir(opts.out, { recursive: true });
  } catch (e) {
    throw new UserError(`${opts.out}: cannot create the report folder: ${fsReason(e)}`);
  }

  const total = tensors.length * variants.length;
  io.stderr(`measuring ${variants.length} variants on ${tensors.length} tensor${tensors.length > 1 ? "s" : ""} (${total} jobs, backend ${opts.backend})\n`);
  const abort = new AbortController();
  const onSigint = () => {
    io.stderr(`\ninterrupted: finishing the report with the measurements done so far (Ctrl-C again to quit now)\n`);
    abort.abort();
  };
  process.once("SIGINT", onSigint);
  const bar = startProgress(total, "jobs");
  let result;
  try {
    result = await sweep(tensors, variants, {
      backend: opts.backend,
      seed: opts.seed,
      runs: opts.runs,
      jobs: opts.jobs,
      signal: abort.signal,
      onProgress: (_done, _total, label) => bar.tick(label),
    });
  } finally {
    bar.stop();
    process.removeListener("SIGINT", onSigint);
  }
  for (const f of result.failures) io.stderr(`failed ${f.variant} on ${f.tensor}: ${f.reason}\n`);

  const byVariant = new Map<string, Measurement[]>();
  for (const m of result.measurements) byVariant.set(m.variant, [...(byVariant.get(m.variant) ?? []), m]);
  // a variant enters the summary only when measured on every tensor, so pooled rows compare like with like
  const complete = variants.filter((v) => (byVariant.get(v.name)?.length ?? 0) === tensors.length);
  const rows = complete.map((v) => summarize(v, byVariant.get(v.name)!));
  const front = paretoFront(rows);
  const variantOf = new Map(variants.map((v) => [v.name, v]));

  // without --budget-bits: the best variant that costs no more than each base scheme as it is
  const budgets = opts.budgetBits ?? [...new Set(bases.map((b) => storageBits(b, tensors[0].shape)))];
  const what = tensors.length === 1 ? tensors[0].name : `${tensors.length} tensors`;
  const recommendations = budgets.map((budget) => {
    const best = bestUnderBudget(rows, budget);
    return { budget, variant: best?.variant, summary: best };
  });
  const qsDir = (file: string) => qsSources.map((src) => relative(dirname(file), src) || src);
  const recommendedPath = join(opts.out, "recommended.qs");
  const recommendedEntries = recommendations.flatMap((r) =>
    r.summary ? [qsEntry(variantOf.get(r.summary.variant)!, r.summary, [`best variant within ${fmtFixed(r.budget, 4)} bits/element on ${what}`])] : [],
  );
  const uniqueEntries = [...new Map(recommendedEntries.map((e) => [e.scheme.name, e])).values()];
  const header = [`Recommended by qkc tune ${qkcVersion()} (${opts.backend}); the measurements are in tune.json`];

  let allocation: Allocation | undefined;
  let perTensorPath: string | undefined;
  if (opts.perTensor) {
    // a plan names schemes only: quantize-model does not rotate, so rotated variants cannot be planned
    const plannable = result.measurements.filter((m) => !variantOf.get(m.variant)!.rotate);
    if (plannable.length < result.measurements.length)
      io.stderr(`per-tensor: rotated variants are left out (a per-tensor plan holds schemes; the rotation is a kernel option)\n`);
    const byTensor = new Map<string, Measurement[]>();
    for (const m of plannable) byTensor.set(m.tensor, [...(byTensor.get(m.tensor) ?? []), m]);
    allocation = allocate(byTensor, opts.budgetBits![0]);
    if (!allocation) io.stderr(`per-tensor: even the cheapest variants exceed ${opts.budgetBits![0]} bits/element; raise --budget-bits\n`);
  }

  const report = {
    qkc: qkcVersion(),
    backend: opts.backend,
    seed: opts.seed,
    timingRuns: opts.runs,
    schemes: bases.map((b) => b.name),
    axes,
    tensors: tensors.map((t) => ({ name: t.name, ...t.source })),
    interrupted: result.interrupted,
    notRun: result.notRun,
    variants: variants.map((v) => ({ name: v.name, family: v.family, spec: v.spec, scheme: v.scheme, rotate: v.rotate ?? null })),
    skipped,
    failures: result.failures,
    measurements: result.measurements,
    summary: rows,
    paretoFront: front.map((r) => r.variant),
    recommendations: recommendations.map((r) => ({ budgetBits: r.budget, variant: r.variant ?? null })),
    ...(allocation
      ? {
          perTensor: {
            budgetBits: allocation.budget,
            bitsPerElement: allocation.bitsPerElement,
            choices: allocation.choices.map((c) => ({ tensor: c.tensor, elements: c.elements, variant: c.choice.variant, bitsPerElement: c.choice.bitsPerElement, qsnrDb: c.choice.qsnrDb })),
          },
        }
      : {}),
  };
  await writeFileAtomic(join(opts.out, "tune.json"), toJson(report));
  if (rows.length > 0) {
    const subtitle = `${what} · backend ${opts.backend} · ${rows.length} variants${result.interrupted ? " (interrupted)" : ""}`;
    // vega and resvg load only when a chart is drawn (they slow every qkc command otherwise)
    const { paretoChart } = await import("../../tune/pareto-chart.js");
    const { renderSvg, svgToPng } = await import("../../tune/plot.js");
    const svg = await renderSvg(paretoChart(rows, front, subtitle, uniqueEntries.map((e) => e.scheme.name)));
    await writeFileAtomic(join(opts.out, "pareto.svg"), svg);
    await writeFileAtomic(join(opts.out, "pareto.png"), svgToPng(svg));
  }
  if (uniqueEntries.length) await writeFileAtomic(recommendedPath, qsFile(header, uniqueEntries, qsDir(recommendedPath)));
  if (allocation) {
    perTensorPath = join(opts.out, "per-tensor.qs");
    // one scheme per chosen variant, its tensors in the doc: the plan form `qkc quantize-model --per-tensor` reads
    const groups = new Map<string, TensorChoice[]>();
    for (const c of allocation.choices) groups.set(c.choice.variant, [...(groups.get(c.choice.variant) ?? []), c]);
    const entries = [...groups].map(([variant, cs]): QsScheme => {
      const v = variantOf.get(variant)!;
      const info = cs.map((c) => `${c.tensor}: ${c.choice.qsnrDb.toFixed(2)} dB at ${fmtFixed(c.choice.bitsPerElement, 4)} bits/element`);
      return { scheme: v.scheme, note: [`${variant} (qkc tune)`, ...info], doc: [`tensors: ${cs.map((c) => c.tensor).join(", ")}`] };
    });
    const head = [
      `Per-tensor schemes by qkc tune ${qkcVersion()}: ${fmtFixed(allocation.bitsPerElement, 4)} bits/element on average, budget ${allocation.budget}`,
      `use with: qkc quantize-model --per-tensor per-tensor.qs (each scheme's doc lists its tensors)`,
    ];
    await writeFileAtomic(perTensorPath, qsFile(head, entries, qsDir(perTensorPath)));
  }

  io.stdout(`input: ${what}; backend ${opts.backend}; * = on the Pareto front\n`);
  io.stdout(summaryTable(rows, front));
  for (const r of recommendations)
    io.stdout(
      r.summary
        ? `\nbest within ${fmtFixed(r.budget, 4)} bits/element: ${r.summary.variant} (${fmtFixed(r.summary.bitsPerElement, 4)} bits, ${r.summary.qsnrDb.toFixed(2)} dB)\n`
        : `\nno variant fits within ${fmtFixed(r.budget, 4)} bits/element\n`,
    );
  if (uniqueEntries.length) io.stdout(`\n${qsFile(header, uniqueEntries, qsDir("x"))}`);
  if (allocation)
    io.stdout(`\nper-tensor choice at ${fmtFixed(allocation.bitsPerElement, 4)} bits/element (budget ${allocation.budget}): ${perTensorPath}\n`);
  io.stdout(`\nreport: ${join(opts.out, "tune.json")}${rows.length ? `, ${join(opts.out, "pareto.svg")}, ${join(opts.out, "pareto.png")}` : ""}${uniqueEntries.length ? `, ${recommendedPath}` : ""}\n`);
  if (result.interrupted)
    throw new UserError(`interrupted after ${result.measurements.length} of ${total} measurements; what finished is in ${opts.out}`);
}

// ---------------------------------------------------------------------------
// the command line

const list =
  <T>(what: string, parse: (item: string) => T | undefined, hint: string) =>
  (text: string): T[] => {
    const items = text.split(",").map((s) => s.trim());
    const out = items.map(parse);
    const bad = items.find((_, i) => out[i] === undefined);
    if (bad !== undefined || items.length === 0)
      throw new InvalidArgumentError(`'${bad ?? text}' is not ${what}; use ${hint}.`);
    return [...new Set(out as T[])];
  };

const positiveInt = (s: string) => (/^\d+$/.test(s) && Number(s) >= 1 && Number(s) <= 1 << 20 ? Number(s) : undefined);
const positive = (s: string) => (s !== "" && Number(s) > 0 && Number.isFinite(Number(s)) ? Number(s) : undefined);
const oneOf =
  <T extends string>(choices: readonly T[]) =>
  (s: string) =>
    choices.find((c) => c === s);
const count = (what: string, min = 0) => (s: string) => {
  if (!/^\d+$/.test(s) || Number(s) < min) throw new InvalidArgumentError(`use a whole number of ${what}${min ? ` (at least ${min})` : ""}.`);
  return Number(s);
};

export function addTuneCommand(qkc: Command, io: Io): void {
  qkc
    .command("tune")
    .description(
      "sweep block size, scale format and rule, rotation and rounding of schemes over tensors; table, report/tune.json, Pareto chart and a recommended .qs scheme",
    )
    .argument("<schemes...>", "base schemes: built-in names (qkc list), FILE.qs:NAME, or a FILE.qs declaring one scheme")
    .option("--tensor <file...>", "x.npy, or ckpt.safetensors[:name,...] (also a folder or model.safetensors.index.json); repeatable")
    .addOption(
      new Option("--synthetic <dist>", `a generated tensor: ${DISTRIBUTIONS}`)
        .argParser((t) => {
          try {
            return parseDistribution(t);
          } catch (e) {
            throw new InvalidArgumentError(`${(e as Error).message}.`);
          }
        })
        .conflicts("tensor"),
    )
    .addOption(
      new Option("--crest <list>", "synthetic tensors with these crest factors (block max / sigma), one tensor each")
        .argParser(list("a crest factor", (s) => (positive(s) !== undefined && Number(s) >= 1 ? Number(s) : undefined), "numbers >= 1 like 1.5,2,3,4")),
    )
    .addOption(
      new Option("--shape <dims>", "shape of each synthetic tensor")
        .default([256, 4096], "256,4096")
        .argParser(list("a dimension", positiveInt, "positive integers like 256,4096")),
    )
    .addOption(new Option("--block <list>", `block sizes (default ${DEFAULT_BLOCKS.join(",")} for 1-D blocks)`).argParser(list("a block size", positiveInt, "positive integers like 16,32,64")))
    .addOption(new Option("--scale <list>", "scale formats, e.g. e8m0,e4m3,f16 (default: the scheme's)").argParser(list("a format name", (s) => (/^[A-Za-z_]\w*$/.test(s) ? s : undefined), "names like e8m0,e4m3,f16")))
    .addOption(new Option("--rule <list>", `scale rules: ${SCALE_RULES.join(", ")} (default: the scheme's)`).argParser(list("a scale rule", oneOf(SCALE_RULES), SCALE_RULES.join(", "))))
    .addOption(new Option("--rotate <list>", "none and/or hadamard (random Hadamard rotation of the block size)").argParser(list("a rotation", oneOf(ROTATE_CHOICES), "none,hadamard")))
    .addOption(new Option("--rounding <list>", `element rounding: ${ROUNDING_MODES.join(", ")} (default: the scheme's)`).argParser(list("a rounding mode", oneOf(ROUNDING_MODES), ROUNDING_MODES.join(", "))))
    .addOption(new Option("--backend <name>", `backend whose quantize/dequantize kernels are timed (errors are the interpreter's, which every backend matches bit for bit): ${BACKENDS.join(", ")}`).default("wasm").argParser(parseBackend))
    .addOption(new Option("--budget-bits <list>", "bit budgets (bits/element incl. scales) to recommend a variant for (default: each scheme's own)").argParser(list("a bit budget", positive, "numbers like 4.5 or 4.25,5")))
    .option("--per-tensor", "checkpoints: the best variant per tensor under one global --budget-bits, written as report/per-tensor.qs")
    .option("--out <dir>", "report folder", "report")
    .addOption(new Option("--jobs <n>", "measurements at a time (worker threads; 1 = this thread)").default(defaultJobs(), "the number of CPUs").argParser(count("jobs", 1)))
    .addOption(new Option("--runs <n>", "timed runs per kernel after 2 warm-up runs (0: no timing)").default(5).argParser(count("runs")))
    .addOption(new Option("--seed <n>", "seed of synthetic data, rotation signs and stochastic rounding").default(0).argParser(count("the seed")))
    .action((schemes: string[], opts: TuneOptions) => runTune(schemes, opts, io))
    .addHelpText(
      "after",
      `
Every combination of the lists is a variant of each scheme; combinations the
scheme rules reject are skipped with the reason. Writes to --out: tune.json
(every measurement), pareto.svg and pareto.png, recommended.qs, and with
--per-tensor per-tensor.qs. Ctrl-C stops and writes what is finished.

Examples:
  qkc tune mxfp4 --synthetic gaussian --crest 2,4 --block 16,32,64 --rule floor,rceil
  qkc tune mxfp4 nvfp4 --tensor model.safetensors --block 16,32,64,128 --budget-bits 4.5
  qkc tune nvfp4 --tensor model.safetensors --block 16,32,64 --per-tensor --budget-bits 4.4`,
    );
}
