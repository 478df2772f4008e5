/**
 * Which scheme each tensor of a checkpoint gets: --include / --exclude regexes,
 * one --scheme, and an optional per-tensor plan (.qs). A plan is an ordinary
 * .qs file whose schemes carry the tensors they apply to in their doc comment:
 *
 *   // tensors: model.layers.0.mlp.down_proj.weight, model.layers.1.mlp.down_proj.weight
 *   scheme down_proj_b32 extends nvfp4 { block: 32 }
 *
 * (`qkc tune`'s per-tensor mode writes this form; docs/checkpoints.md.)
 */
import { loadForCommand } from "../../dsl/resolve.js";
import { standardScope } from "../../dsl/load.js";
import type { Scheme } from "../../ir/scheme.js";
import { UserError } from "../errors.js";
import type { TensorInfo } from "../safetensors.js";

export interface Selection {
  readonly include?: string;
  readonly exclude?: string;
  /** the scheme spec (built-in name or FILE.qs:NAME) and the scheme */
  readonly scheme?: { readonly spec: string; readonly scheme: Scheme };
  /** path of a per-tensor plan */
  readonly plan?: string;
}

/** What happens to one tensor. */
export type Decision =
  | { readonly action: "quantize"; readonly spec: string; readonly scheme: Scheme }
  | { readonly action: "copy"; readonly why: string };

const FLOATS = new Set(["F32", "F16", "BF16"]);

function regex(flag: string, text: string | undefined): RegExp | undefined {
  if (text === undefined) return undefined;
  try {
    return new RegExp(text);
  } catch (e) {
    throw new UserError(
      `${flag} '${text}': not a regular expression (${(e as Error).message}); quote it for the shell, e.g. --exclude 'lm_head|embed'`,
    );
  }
}

/** The plan's tensor -> scheme map. */
export function readPlan(path: string): Map<string, { spec: string; scheme: Scheme }> {
  const builtins = standardScope().schemes;
  const { program } = loadForCommand([path]);
  const rotated = new Set(
    [...program.kernels.values()].filter((k) => k.rotate).map((k) => k.scheme.name),
  );
  const own = [...program.schemes.entries()].filter(([, s]) => !builtins.has(s.name));
  const map = new Map<string, { spec: string; scheme: Scheme }>();
  for (const [name, scheme] of own) {
    const doc = scheme.doc ?? "";
    if (!/^tensors?:/.test(doc)) continue;
    if (rotated.has(name))
      throw new UserError(
        `${path}: scheme '${name}' is used with a Hadamard rotation, which quantize-model does not apply to checkpoints yet; pick an unrotated variant`,
      );
    const tensors = doc.split(/[\s,]+/).filter((t) => t !== "" && !/^tensors?:$/.test(t));
    for (const t of tensors) {
      const before = map.get(t);
      if (before)
        throw new UserError(
          `${path}: tensor '${t}' is planned twice (schemes '${before.scheme.name}' and '${name}'); keep one`,
        );
      map.set(t, { spec: `${path}:${name}`, scheme });
    }
  }
  if (map.size === 0)
    throw new UserError(
      `${path}: no scheme names its tensors; put '// tensors: NAME, NAME' right above each scheme`,
    );
  return map;
}

/** Decides every tensor; throws if the plan names a tensor the checkpoint lacks. */
export function decide(tensors: readonly TensorInfo[], sel: Selection): Map<string, Decision> {
  const include = regex("--include", sel.include);
  const exclude = regex("--exclude", sel.exclude);
  const plan = sel.plan ? readPlan(sel.plan) : undefined;
  if (!plan && !sel.scheme)
    throw new UserError(`no scheme given; pass --scheme NAME or --per-tensor plan.qs`);
  const names = new Set(tensors.map((t) => t.name));
  for (const t of plan?.keys() ?? [])
    if (!names.has(t))
      throw new UserError(
        `${sel.plan}: tensor '${t}' is not in the checkpoint; check the plan was made for this model`,
      );
  const out = new Map<string, Decision>();
  for (const t of tensors) {
    const copy = (why: string) => out.set(t.name, { action: "copy", why });
    if (t.shape.length !== 2) copy(`${t.shape.length}-D`);
    else if (!FLOATS.has(t.dtype)) copy(t.dtype);
    else if (include && !include.test(t.name)) copy("not included");
    else if (exclude?.test(t.name)) copy("excluded");
    else {
      const chosen = plan?.get(t.name) ?? sel.scheme;
      if (chosen) out.set(t.name, { action: "quantize", ...chosen });
      else copy("not in the plan");
    }
  }
  return out;
}

/** `--shard i/n`: [i, n] with 0 <= i < n. */
export function parseShard(text: string): { index: number; count: number } {
  const m = /^(\d+)\/(\d+)$/.exec(text);
  const [index, count] = m ? [Number(m[1]), Number(m[2])] : [NaN, NaN];
  if (!m || count < 1 || index >= count)
    throw new UserError(
      `--shard '${text}': use i/n with 0 <= i < n, e.g. --shard 0/4 for the first of four`,
    );
  return { index, count };
}
