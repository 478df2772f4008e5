/**
 * The qkc command line. Command names and flags are a contract other tools rely
 * on; each command's work lives in cli/commands/.
 */
import { Command, CommanderError, InvalidArgumentError, Option } from "commander";
import { DISTRIBUTIONS, parseDistribution, type Distribution } from "../tune/synthetic.js";
import { runError } from "./commands/error.js";
import { runCheck } from "./commands/check.js";
import { BENCH_KERNELS, runBench } from "./commands/bench.js";
import { runFmt } from "./commands/fmt.js";
import { runCompile, SCALE_LAYOUTS, TARGETS } from "./commands/compile.js";
import { ARCHS } from "../backends/cuda/nvcc.js";
import { useCudaNotice } from "../backends/cuda/runtime.js";
import { runList } from "./commands/list.js";
import { runQdq } from "./commands/qdq.js";
import { runGemv } from "./commands/gemv.js";
import { runQuantize } from "./commands/quantize.js";
import { addModelCommands } from "./commands/model-commands.js";
import { addTuneCommand } from "./commands/tune.js";
import { isUserError } from "./errors.js";
import { processIo, type Io } from "./io.js";
import { BACKENDS, parseBackend } from "./schemes.js";
import { useWgslAdapter } from "../backends/runner.js";
import { qkcVersion } from "./version.js";

export type { Io };

/** Runs qkc with `argv` (without "node qkc") and returns the exit code: 0 ok, 1 user error, 2 bug. */
export async function main(argv: readonly string[], io: Io = processIo): Promise<number> {
  try {
    await program(io).parseAsync([...argv], { from: "user" });
    return 0;
  } catch (e) {
    // commander has already printed its own errors, --help and --version
    if (e instanceof CommanderError) return e.exitCode;
    if (isUserError(e)) {
      io.stderr(`error: ${e.message}\n`);
      return 1;
    }
    io.stderr(
      `qkc: internal error: this is a bug in qkc, not in your input; please report it with the command line.\n`,
    );
    io.stderr(`${e instanceof Error ? e.stack : String(e)}\n`);
    return 2;
  }
}

function parseSeed(text: string): number {
  const n = Number(text);
  if (!/^\d+$/.test(text) || !Number.isSafeInteger(n))
    throw new InvalidArgumentError("use an integer in 0..2^53-1.");
  return n;
}

function parseShape(text: string): number[] {
  const dims = text.split(",").map(Number);
  if (!/^\d+(,\d+)*$/.test(text) || dims.some((d) => d < 1))
    throw new InvalidArgumentError("use positive integers like 1024,4096.");
  if (dims.reduce((a, b) => a * b, 1) >= 2 ** 31)
    throw new InvalidArgumentError("use fewer than 2^31 elements.");
  return dims;
}

function parseDist(text: string): Distribution {
  try {
    return parseDistribution(text);
  } catch (e) {
    throw new InvalidArgumentError(`${(e as Error).message}.`);
  }
}

const backendOption = () =>
  new Option("--backend <name>", `backend that runs the arithmetic: ${BACKENDS.join(", ")}`)
    .default("interp")
    .argParser(parseBackend);
const adapterOption = () =>
  new Option("--adapter <name>", "WebGPU adapter for --backend wgsl (a name Dawn lists)");
const seedOption = (what: string) => new Option("--seed <n>", what).default(0).argParser(parseSeed);
const ROUNDING_SEED = "seed of the Philox stream for stochastic rounding";
const SCHEME_ARG = "a built-in scheme (qkc list), FILE.qs:NAME, or a FILE.qs declaring one scheme";

function program(io: Io): Command {
  const qkc = new Command("qkc")
    .description(
      "Compile block-scaled quantization schemes (MX, NVFP4, NF4, INT4...) and run them on tensors.",
    )
    .version(qkcVersion())
    .configureOutput({ writeOut: io.stdout, writeErr: io.stderr })
    .exitOverride()
    .option("--adapter <name>", "WebGPU adapter for --backend wgsl (a name Dawn lists; default: Dawn's choice)")
    .hook("preAction", (root, command) =>
      useWgslAdapter((command.opts().adapter ?? root.opts().adapter) as string | undefined),
    )
    .hook("preAction", () => useCudaNotice(io.stderr))
    .addHelpText(
      "after",
      `
Tensors are NumPy .npy files (float32 or float16, little-endian, C order).
Exit status: 0 ok, 1 bad input or usage, 2 a bug in qkc.

Examples:
  qkc list
  qkc check my.qs
  qkc qdq my.qs:myscheme --in x.npy --out y.npy
  qkc qdq mxfp4 --in w.npy --out w_mxfp4.npy
  qkc quantize nvfp4 --in w.npy --out w_nvfp4/
  qkc error all --synthetic student-t:5 --shape 1024,4096`,
    );

  qkc
    .command("list")
    .description("list number formats and schemes: the built-ins, or those a .qs file declares")
    .argument("[file.qs]", "list this file's declarations instead of the built-ins")
    .option("--json", "print JSON instead of tables")
    .action((file: string | undefined, opts: { json?: boolean }) => runList(file, opts, io));

  qkc
    .command("check")
    .description("check .qs files and print their diagnostics; exit 1 if any is an error")
    .argument("<files...>", ".qs files (their imports are checked too)")
    .action((files: string[]) => runCheck(files, io));

  qkc
    .command("fmt")
    .description("format .qs files (the prettier plugin for .qs): print, --write in place, or --check")
    .argument("<files...>", ".qs files")
    .option("--write", "rewrite the files in place")
    .option("--check", "exit 1 if any file is not formatted")
    .action((files: string[], opts: { write?: boolean; check?: boolean }) => runFmt(files, opts, io));

  qkc
    .command("compile")
    .description("compile kernels (a .qs file's, or every kind for a scheme) through the pass pipeline")
    .argument("<source>", "a .qs file with kernel declarations, or a scheme (every kernel kind)")
    .addOption(new Option("--target <target>", "what to emit").choices([...TARGETS]).default("ir"))
    .option("--out <dir>", "folder for the artifacts and manifest.json")
    .option("--dump-ir <passes>", "print the IR after these passes (comma-separated): validate, graph, fuse, layout, lower")
    .option("--kernel <name>", "compile only this kernel")
    .addOption(
      new Option("--arch <sm>", "GPU architecture for --target cuda (recorded in the manifest)").choices([...ARCHS]),
    )
    .addOption(
      new Option("--emit <extra>", "--target cuda: also a PyTorch extension (setup.py, C++ binding)").choices(["torch"]),
    )
    .addOption(
      new Option("--scale-layout <layout>", "where quantize, dequantize and gemv kernels place block scales").choices([
        ...SCALE_LAYOUTS,
      ]),
    )
    .option(
      "--relaxed-simd",
      "--target wasm: fuse multiply-adds of order: any GEMV with relaxed SIMD (needs Node 22+ or Chrome 114+)",
    )
    .action((source: string, opts) => runCompile(source, opts, io));

  qkc
    .command("qdq")
    .description(
      "fake-quantize a tensor (quantize, then dequantize) and write it as float32 of the same shape",
    )
    .argument("<scheme>", SCHEME_ARG)
    .requiredOption("--in <file>", "input .npy, float32 or float16")
    .requiredOption("--out <file>", "output .npy, float32")
    .addOption(backendOption())
    .addOption(adapterOption())
    .addOption(seedOption(ROUNDING_SEED))
    .action(runQdq);

  qkc
    .command("gemv")
    .description("y = W x with W quantized by the scheme (16-lane order, see docs/semantics.md); y is float32 [N]")
    .argument("<scheme>", SCHEME_ARG)
    .requiredOption("--weights <file>", "W as a 2-D .npy [N, K], float32 or float16 (quantized by the scheme)")
    .requiredOption("--x <file>", "x as a .npy of K values, float32 or float16")
    .requiredOption("--out <file>", "output .npy, float32 [N]")
    .addOption(backendOption())
    .addOption(adapterOption())
    .action(runGemv);

  qkc
    .command("bench")
    .description("time one kernel alone (warm-up, then the median of repeated runs) and print one JSON object")
    .argument("<scheme>", SCHEME_ARG)
    .addOption(new Option("--kernel <kind>", "kernel to time").choices([...BENCH_KERNELS]).default("qdq"))
    .addOption(backendOption())
    .addOption(adapterOption())
    .addOption(new Option("--threads <n>", "threads").default(1).argParser((t) => parseSeed(t)))
    .addOption(new Option("--size <n>", "elements of the tensor (gemv: of W)").default(1 << 22).argParser((t) => parseSeed(t)))
    .addOption(new Option("--runs <n>", "timed runs").default(9).argParser((t) => parseSeed(t)))
    .addOption(new Option("--order <order>", "gemv's reduction order (any: --backend wasm)").choices(["fixed", "any"]))
    .option("--packed", "4-bit codes two per byte, as deployed (--backend wasm)")
    .option("--relaxed-simd", "order any GEMV with relaxed SIMD's fused multiply-adds (--backend wasm; Node 22+)")
    .option("--json", "print JSON (the only output format; accepted for scripts)")
    .action((name: string, opts) => runBench(name, opts, io));

  qkc
    .command("quantize")
    .description(
      "quantize a tensor and write its codes and scales as .npy files with a manifest.json",
    )
    .argument("<scheme>", SCHEME_ARG)
    .requiredOption("--in <file>", "input .npy, float32 or float16")
    .requiredOption("--out <dir>", "output folder (created if missing)")
    .addOption(backendOption())
    .addOption(adapterOption())
    .addOption(seedOption(ROUNDING_SEED))
    .addOption(
      new Option("--scale-layout <layout>", "nvidia_128x4: scales.npy in NVIDIA's 128x4 swizzle (2-D, 8-bit scales)")
        .choices([...SCALE_LAYOUTS])
        .default("plain"),
    )
    .action(runQuantize)
    .addHelpText(
      "after",
      `
Writes to DIR:
  codes.npy      one element code per element (u8 or u16), the input's shape
  scales.npy     raw scale codes, one per block (u8, u16, or u32 = f32 bits);
                 with --scale-layout nvidia_128x4 u8 [pad(rows, 128), pad(blocks per row, 4)]
  zeros.npy      zero points, for schemes with scale rule minmax
  dq_codes.npy, dq_scales.npy   the compressed scales, for double quantization
  manifest.json  scheme, shapes, seed, tensor scale, qkc version, sha256 of the input`,
    );

  qkc
    .command("error")
    .description("print the quantization error (MSE, QSNR, max abs error) of schemes on a tensor")
    .argument("<schemes...>", `${SCHEME_ARG}; all = every built-in`)
    .addOption(new Option("--in <file>", "input .npy, float32 or float16").conflicts("synthetic"))
    .addOption(
      new Option("--synthetic <dist>", `a generated tensor: ${DISTRIBUTIONS}`).argParser(parseDist),
    )
    .addOption(
      new Option("--shape <dims>", "shape of the synthetic tensor, e.g. 1024,4096")
        .default([1024, 1024], "1024,1024")
        .argParser(parseShape)
        .conflicts("in"),
    )
    .addOption(seedOption(`seed of the synthetic data and of stochastic rounding`))
    .addOption(backendOption())
    .addOption(adapterOption())
    .option("--json", "print JSON instead of a table (NaN and Infinity as strings)")
    .action((names: string[], opts) => runError(names, opts, io));

  addModelCommands(qkc, io);
  addTuneCommand(qkc, io);

  return qkc;
}
