/**
 * `npx tsx bench/checkpoint.ts [--gib 1] [--scheme nvfp4] [--layout modelopt] [--backend wasm,interp]`:
 * generates a BF16 checkpoint of about --gib GiB (two shards with an index) in
 * a temp folder, runs `qkc quantize-model` on it in a child process per
 * backend, and reports wall time, throughput and the child's peak RSS. The
 * same is done on a checkpoint a quarter the size: bounded memory means the
 * peak RSS stays flat while the time scales. The reference measured in the same
 * run is a plain copy of the checkpoint's bytes (read + write, page cache warm).
 * Prints one JSON document, then a table. The temp folder is removed at the end.
 */
import { spawnSync } from "node:child_process";
import { copyFileSync, mkdtempSync, readdirSync, rmSync, statSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { parseArgs } from "node:util";
import { fileURLToPath } from "node:url";
import { createSafetensors, writeIndex } from "../cli/safetensors.js";

const ROWS = 4096;
const COLS = 2048;
const TENSOR_BYTES = ROWS * COLS * 2;

/**
 * Child mode: run the checkpoint commands (parsed as qkc parses them) and print
 * the peak RSS (bytes) as the last line. Only the checkpoint commands are
 * loaded, not all of cli/main.ts, so the figure is the quantizer's own.
 */
async function child(argv: string[]): Promise<void> {
  const { Command } = await import("commander");
  const { addModelCommands } = await import("../cli/commands/model-commands.js");
  const program = new Command().exitOverride();
  addModelCommands(program, { stdout: () => {}, stderr: (t) => void process.stderr.write(t) });
  await program.parseAsync(argv, { from: "user" });
  process.stdout.write(
    `${JSON.stringify({ maxRssBytes: process.resourceUsage().maxRSS * 1024 })}\n`,
  );
}

/** Deterministic BF16 weights with a per-row spread of magnitudes (cheap to generate). */
function bf16Tensor(seed: number): Uint8Array {
  const bits = new Uint16Array(ROWS * COLS);
  let s = (seed * 2654435761) >>> 0;
  const f = new Float32Array(1);
  const u = new Uint32Array(f.buffer);
  for (let i = 0; i < bits.length; i++) {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    f[0] = ((s >>> 8) / 2 ** 24 - 0.5) * 2 ** (((i >>> 11) % 8) - 6);
    bits[i] = u[0] >>> 16;
  }
  return new Uint8Array(bits.buffer);
}

/** Writes `tensors` 2-D weights (plus one norm per weight) as two shards and an index. */
async function generate(dir: string, tensors: number): Promise<number> {
  const weightMap: Record<string, string> = {};
  let total = 0;
  const half = Math.ceil(tensors / 2);
  for (const [shard, [from, to]] of [
    [0, half],
    [half, tensors],
  ].entries()) {
    const file = `model-0000${shard + 1}-of-00002.safetensors`;
    const decls = [];
    for (let k = from; k < to; k++)
      decls.push(
        { name: `model.layers.${k}.mlp.proj.weight`, dtype: "BF16" as const, shape: [ROWS, COLS] },
        { name: `model.layers.${k}.norm.weight`, dtype: "BF16" as const, shape: [COLS] },
      );
    const w = createSafetensors(join(dir, file), decls);
    for (let k = from; k < to; k++) {
      w.write(decls[(k - from) * 2].name, bf16Tensor(k));
      w.write(decls[(k - from) * 2 + 1].name, new Uint8Array(COLS * 2).fill(0x3f));
      total += TENSOR_BYTES + COLS * 2;
    }
    w.finish();
    for (const d of decls) weightMap[d.name] = file;
  }
  await writeIndex(dir, weightMap, total);
  return total;
}

function folderBytes(dir: string): number {
  return readdirSync(dir).reduce((a, f) => a + statSync(join(dir, f)).size, 0);
}

interface Row {
  checkpoint_gib: number;
  tensors: number;
  backend: string;
  seconds: number;
  mb_per_s: number;
  peak_rss_mib: number;
  output_mib: number;
  copy_seconds: number;
  vs_copy: number;
}

async function bench(): Promise<void> {
  const { values } = parseArgs({
    options: {
      gib: { type: "string", default: "1" },
      scheme: { type: "string", default: "nvfp4" },
      layout: { type: "string", default: "modelopt" },
      backend: { type: "string", default: "wasm,interp" },
    },
  });
  const full = Math.max(2, Math.round((Number(values.gib) * 2 ** 30) / TENSOR_BYTES));
  const self = fileURLToPath(import.meta.url);
  const root = mkdtempSync(join(tmpdir(), "qkc-bench-ckpt-"));
  const rows: Row[] = [];
  try {
    for (const tensors of [Math.max(2, Math.round(full / 4)), full]) {
      const src = join(root, `src-${tensors}`);
      rmSync(src, { recursive: true, force: true });
      spawnSync("mkdir", ["-p", src]);
      const bytes = await generate(src, tensors);
      const copyDir = join(root, "copy");
      spawnSync("mkdir", ["-p", copyDir]);
      const t0 = performance.now();
      for (const f of readdirSync(src)) copyFileSync(join(src, f), join(copyDir, f));
      const copySeconds = (performance.now() - t0) / 1000;
      rmSync(copyDir, { recursive: true });
      for (const backend of values.backend.split(",")) {
        const out = join(root, `out-${tensors}-${backend}`);
        const args = [
          "quantize-model",
          src,
          "--scheme",
          values.scheme,
          "--layout",
          values.layout,
          "--backend",
          backend,
          "--out",
          out,
        ];
        const t1 = performance.now();
        const r = spawnSync(process.execPath, [...process.execArgv, self, "--child", ...args], {
          encoding: "utf8",
          maxBuffer: 1 << 26,
        });
        const seconds = (performance.now() - t1) / 1000;
        const last = r.stdout.trim().split("\n").at(-1) ?? "";
        if (r.status !== 0) throw new Error(`quantize-model failed: ${r.stderr}${r.stdout}`);
        const { maxRssBytes } = JSON.parse(last) as { maxRssBytes: number };
        rows.push({
          checkpoint_gib: +(bytes / 2 ** 30).toFixed(3),
          tensors: tensors * 2,
          backend,
          seconds: +seconds.toFixed(1),
          mb_per_s: +(bytes / 2 ** 20 / seconds).toFixed(1),
          peak_rss_mib: Math.round(maxRssBytes / 2 ** 20),
          output_mib: Math.round(folderBytes(out) / 2 ** 20),
          copy_seconds: +copySeconds.toFixed(2),
          vs_copy: +(seconds / copySeconds).toFixed(1),
        });
        rmSync(out, { recursive: true });
      }
      rmSync(src, { recursive: true });
    }
  } finally {
    rmSync(root, { recursive: true, force: true });
  }
  const report = {
    node: process.version,
    date: new Date().toISOString(),
    scheme: values.scheme,
    layout: values.layout,
    tensor: `${ROWS}x${COLS} bf16`,
    checkpoint: rows,
  };
  console.log(JSON.stringify(report, null, 2));
  console.table(rows);
}

if (process.argv[2] === "--child") await child(process.argv.slice(3));
else await bench();
