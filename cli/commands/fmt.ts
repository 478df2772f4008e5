/** qkc fmt: format .qs files with the prettier plugin; print, --write in place, or --check. */
import { readFile } from "node:fs/promises";
import { formatQs } from "../../dsl/format.js";
import { parseQs } from "../../dsl/parser.js";
import { renderDiagnostic } from "../../dsl/diagnostics.js";
import { writeFileAtomic } from "../atomic.js";
import { fsReason, UserError } from "../errors.js";
import type { Io } from "../io.js";

export async function runFmt(
  files: string[],
  opts: { write?: boolean; check?: boolean },
  io: Io,
): Promise<void> {
  if (files.length > 1 && !opts.write && !opts.check)
    throw new UserError(
      "several files: add --write to format them in place, or --check to list the unformatted ones",
    );
  const unformatted: string[] = [];
  for (const file of files) {
    const text = await readFile(file, "utf8").catch((e) => {
      throw new UserError(`${file}: cannot read: ${fsReason(e)}`);
    });
    const errors = parseQs(text, file).diagnostics.filter((d) => d.severity === "error");
    if (errors.length) {
      io.stderr(errors.map((d) => renderDiagnostic(d, text)).join("\n\n") + "\n");
      throw new UserError(`${file}: ${errors.length} syntax error(s); nothing was formatted`);
    }
    const formatted = await formatQs(text, file);
    if (opts.check) {
      if (formatted !== text) unformatted.push(file);
    } else if (opts.write) {
      if (formatted !== text) await writeFileAtomic(file, formatted);
    } else {
      io.stdout(formatted);
    }
  }
  if (unformatted.length)
    throw new UserError(`not formatted: ${unformatted.join(", ")}; run qkc fmt --write on them`);
}
