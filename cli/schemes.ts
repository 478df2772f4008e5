/** Scheme and backend names on the command line, and short descriptions of schemes. */
import { InvalidArgumentError } from "commander";
import { bitsPerElement, type BlockShape, type Scheme } from "../ir/scheme.js";
import { BUILTIN_SCHEMES } from "../stdlib/index.js";
import { resolveScheme as resolveSpec } from "../dsl/resolve.js";

import { BACKENDS, type Backend } from "../backends/runner.js";
export { BACKENDS, type Backend };

/** commander argument parser for --backend. */
export function parseBackend(name: string): Backend {
  const known = BACKENDS.find((b) => b === name);
  if (!known) throw new InvalidArgumentError(`qkc has these backends: ${BACKENDS.join(", ")}.`);
  return known;
}

/** A built-in name, FILE.qs:NAME, or a FILE.qs declaring one scheme (dsl/resolve.ts). */
export function resolveScheme(spec: string): Scheme {
  return resolveSpec(spec);
}

/** Scheme specs in order, without repeats; `all` stands for every built-in scheme. */
export function resolveSchemes(specs: readonly string[]): Scheme[] {
  const out = specs.flatMap((n) => (n === "all" ? BUILTIN_SCHEMES : [resolveScheme(n)]));
  return [...new Set(out)];
}

export function describeBlock(b: BlockShape): string {
  if (b.kind === "tile") return `${b.rows}x${b.cols} tile`;
  return b.axis === -1 ? String(b.size) : `${b.size} on axis ${b.axis}`;
}

/** "e8m0 floor", "e4m3 amax + f32 per tensor", "f32 amax + dq int8/256". */
export function describeScale(s: Scheme): string {
  let text = `${s.scale.format.name} ${s.scale.rule}`;
  if (s.tensorScale) text += ` + ${s.tensorScale.name} per tensor`;
  const dq = s.doubleQuant?.scheme;
  if (dq)
    text += ` + dq ${dq.element.name}/${dq.block.kind === "axis" ? dq.block.size : describeBlock(dq.block)}`;
  return text;
}

/** Storage bits per element for a tensor of this shape (whole-axis blocks take the axis length). */
export function bitsForShape(s: Scheme, shape?: readonly number[]): number {
  const b = s.block;
  if (!shape || b.kind !== "axis" || b.size !== "all") return bitsPerElement(s);
  return bitsPerElement(s, Math.max(1, shape.at(b.axis) ?? 1));
}
