/** Whole-file writes that never leave a half-written output behind. */
import { randomBytes } from "node:crypto";
import { rename, rm, writeFile } from "node:fs/promises";
import { fsReason, UserError } from "./errors.js";

/** Writes `data` to a temporary file next to `path`, then renames it over `path`. */
export async function writeFileAtomic(path: string, data: Uint8Array | string): Promise<void> {
  const tmp = `${path}.${process.pid}.${randomBytes(4).toString("hex")}.tmp`;
  try {
    await writeFile(tmp, data);
    await rename(tmp, path);
  } catch (e) {
    await rm(tmp, { force: true });
    throw new UserError(
      `${path}: cannot write: ${fsReason(e)}; check that the folder exists and is writable`,
    );
  }
}
