/** The checkpoint commands on the qkc command line: quantize-model, dequantize-model, merge-shards. */
import { InvalidArgumentError, Option, type Command } from "commander";
import { BACKENDS } from "../../backends/runner.js";
import type { Io } from "../io.js";
import { parseBackend } from "../schemes.js";
import { LAYOUTS, SWIZZLES } from "../checkpoint/layouts.js";
import { OUTPUT_DTYPES, runDequantizeModel } from "./dequantize-model.js";
import { runMergeShards } from "./merge-shards.js";
import { runQuantizeModel } from "./quantize-model.js";

function parseSeed(text: string): number {
  const n = Number(text);
  if (!/^\d+$/.test(text) || !Number.isSafeInteger(n))
    throw new InvalidArgumentError("use an integer in 0..2^53-1.");
  return n;
}

const backend = () =>
  new Option("--backend <name>", `backend that runs the arithmetic: ${BACKENDS.join(", ")}`)
    .default("wasm")
    .argParser(parseBackend);

export function addModelCommands(qkc: Command, io: Io): void {
  qkc
    .command("quantize-model")
    .description(
      "quantize the 2-D weights of a safetensors checkpoint into an engine's layout (docs/checkpoints.md)",
    )
    .argument(
      "<checkpoint>",
      "a .safetensors file, several joined by commas, a *.index.json, or a folder",
    )
    .option(
      "--scheme <scheme>",
      "the scheme of every selected weight: a built-in (qkc list) or FILE.qs:NAME",
    )
    .option(
      "--per-tensor <plan.qs>",
      "per-tensor schemes (// tensors: NAME, ... above each scheme); --scheme covers the rest",
    )
    .option("--include <regex>", "quantize only 2-D weights whose name matches (default: all)")
    .option(
      "--exclude <regex>",
      "leave weights whose name matches in full precision, e.g. 'lm_head|embed'",
    )
    .addOption(
      new Option("--layout <layout>", "how quantized weights are stored")
        .choices([...LAYOUTS])
        .default("compressed-tensors"),
    )
    .addOption(
      new Option("--swizzle <swizzle>", "block-scale placement")
        .choices([...SWIZZLES])
        .default("none"),
    )
    .addOption(backend())
    .option(
      "--shard <i/n>",
      "quantize only every n-th tensor from offset i (join with merge-shards)",
    )
    .addOption(
      new Option("--seed <n>", "seed of the Philox stream for stochastic rounding")
        .default(0)
        .argParser(parseSeed),
    )
    .requiredOption("--out <dir>", "output folder (created if missing)")
    .action((input: string, opts) => runQuantizeModel(input, opts, io))
    .addHelpText(
      "after",
      `
Examples:
  qkc quantize-model ckpt/ --scheme nvfp4 --exclude 'lm_head|embed' --out ckpt-nvfp4/
  qkc quantize-model ckpt/ --scheme nvfp4 --layout modelopt --out ckpt-modelopt/
  qkc quantize-model ckpt/ --per-tensor tune-out/per-tensor.qs --layout qkc --out ckpt-tuned/
  qkc quantize-model ckpt/ --scheme mxfp4 --shard 0/4 --out parts/   (then: qkc merge-shards parts/ --out DIR)

Writes, per weight W: compressed-tensors W_packed, W_scale, W_global_scale (+ config.json);
modelopt W, W_scale, W_scale_2 (+ hf_quant_config.json); qkc W_codes, W_scales, ...;
and qkc-manifest.json last. Tensor by tensor: docs/checkpoints.md.`,
    );

  qkc
    .command("dequantize-model")
    .description(
      "read a quantized checkpoint folder back to F32 or BF16 safetensors (to check a round trip)",
    )
    .argument(
      "<dir>",
      "a folder written by quantize-model, or a ModelOpt / compressed-tensors NVFP4 or MXFP4 folder",
    )
    .addOption(
      new Option("--dtype <dtype>", "dtype of the dequantized weights")
        .choices([...OUTPUT_DTYPES])
        .default("f32"),
    )
    .addOption(
      new Option(
        "--swizzle <swizzle>",
        "block-scale placement of folders without qkc-manifest.json",
      )
        .choices([...SWIZZLES])
        .default("none"),
    )
    .addOption(backend())
    .requiredOption("--out <dir>", "output folder (created if missing)")
    .action((input: string, opts) => runDequantizeModel(input, opts, io));

  qkc
    .command("merge-shards")
    .description("join the folders of quantize-model --shard i/n runs into one checkpoint")
    .argument("<dirs...>", "folders holding qkc-manifest.shard-*.json and their files")
    .requiredOption("--out <dir>", "output folder (created if missing)")
    .action((dirs: string[], opts: { out: string }) => runMergeShards(dirs, opts, io));
}
