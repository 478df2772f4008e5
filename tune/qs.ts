/**
 * Schemes printed back as .qs source, so a tuned variant can be saved, checked
 * with `qkc check` and used like any other scheme. Formats are referred to by
 * name: built-in names resolve anywhere, others through the `imports` given.
 */
import type { Rotation } from "../ir/program.js";
import type { BlockShape, Scheme } from "../ir/scheme.js";

export interface QsScheme {
  readonly scheme: Scheme;
  /** a comment a blank line above the declaration (not part of its doc) */
  readonly note?: readonly string[];
  /** the comment right above the declaration: its doc (one line per entry) */
  readonly doc?: readonly string[];
  /** also declare a quantize kernel with this rotation (rotation is a kernel option, not a scheme field) */
  readonly rotate?: Rotation;
}

function blockText(b: BlockShape): string {
  if (b.kind === "tile") return `${b.rows} x ${b.cols}`;
  return String(b.size);
}

/** One `scheme NAME { ... }` declaration with every field written out. */
export function schemeDecl(s: Scheme): string {
  const lines = [`scheme ${s.name} {`, `  element: ${s.element.name}`, `  block: ${blockText(s.block)}`];
  if (s.block.kind === "axis" && s.block.axis !== -1) lines.push(`  axis: ${s.block.axis}`);
  lines.push(`  scale: ${s.scale.format.name} { rule: ${s.scale.rule} }`);
  if (s.tensorScale) lines.push(`  tensor_scale: ${s.tensorScale.name}`);
  if (s.doubleQuant) lines.push(`  double_quant: ${s.doubleQuant.scheme.name} { offset: ${s.doubleQuant.offset} }`);
  const r = s.rounding;
  lines.push(`  rounding: ${r.mode === "stochastic" ? `stochastic { bits: ${r.randomBits} }` : r.mode}`);
  lines.push(`  overflow: ${s.overflow}`, `}`);
  return lines.join("\n");
}

export function rotationText(r: Rotation): string {
  return `hadamard(${r.size}${r.seed === undefined ? "" : `, seed: ${r.seed}`})`;
}

/** A whole .qs file: a header comment, imports, then each scheme (and its kernel, when rotated). */
export function qsFile(header: readonly string[], entries: readonly QsScheme[], imports: readonly string[] = []): string {
  const out: string[] = [header.map((l) => `// ${l}`.trimEnd()).join("\n")];
  if (imports.length) out.push(imports.map((f) => `import ${JSON.stringify(f)}`).join("\n"));
  for (const e of entries) {
    const comment = (lines: readonly string[] | undefined) => (lines ?? []).map((l) => `// ${l}\n`).join("");
    let text = (e.note?.length ? `${comment(e.note)}\n` : "") + comment(e.doc) + schemeDecl(e.scheme);
    if (e.rotate)
      text += `\n\n// ${e.scheme.name} after a random Hadamard rotation of its block size\nkernel quantize_${e.scheme.name} = quantize(${e.scheme.name}, rotate: ${rotationText(e.rotate)})`;
    out.push(text);
  }
  return out.join("\n\n") + "\n";
}
