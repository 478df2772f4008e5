/** qkc check: the diagnostics of .qs files, rendered with their source lines. */
import { existsSync } from "node:fs";
import { hasErrors, loadProgram, renderAll } from "../../dsl/load.js";
import { UserError } from "../errors.js";
import type { Io } from "../io.js";

export function runCheck(files: string[], io: Io): void {
  for (const f of files) if (!existsSync(f)) throw new UserError(`${f}: no such file`);
  const r = loadProgram(files.map((file) => ({ file })));
  if (r.diagnostics.length) io.stderr(renderAll(r) + "\n");
  const errors = r.diagnostics.filter((d) => d.severity === "error").length;
  const warnings = r.diagnostics.length - errors;
  const p = r.program;
  const summary = `${r.files.length} file(s): ${p.formats.size} formats, ${p.schemes.size} schemes, ${p.kernels.size} kernels; ${errors} errors, ${warnings} warnings`;
  if (hasErrors(r.diagnostics)) throw new UserError(summary);
  io.stdout(summary + "\n");
}
