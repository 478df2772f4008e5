/**
 * User errors: problems with the input, the command line or the file system.
 * The CLI prints them as one line and exits 1; anything else is a bug in qkc.
 */
import { FormatError } from "../ir/formats/index.js";
import { SchemeError } from "../ir/scheme.js";
import { SpecError } from "../dsl/resolve.js";
import { NoAdapterError } from "../backends/wgsl/node.js";

/** A message of the form "<thing>: <what is wrong>; <what to do>". */
export class UserError extends Error {
  override name = "UserError";
}

type FsError = Error & { code: string; syscall: string };

function isFsError(e: unknown): e is FsError {
  return e instanceof Error && typeof (e as Partial<FsError>).code === "string" && "syscall" in e;
}

const FS_REASONS: Record<string, string> = {
  ENOENT: "no such file or directory",
  EACCES: "permission denied",
  EPERM: "permission denied",
  EISDIR: "is a folder, not a file",
  ENOTDIR: "a component of the path is not a folder",
  EEXIST: "already exists and is not a folder",
  ENOSPC: "no space left on the device",
  EROFS: "the file system is read-only",
};

/** Short words for a Node file-system error (its message repeats the path and the errno). */
export function fsReason(e: unknown): string {
  if (isFsError(e)) return FS_REASONS[e.code] ?? e.message;
  return e instanceof Error ? e.message : String(e);
}

export function isUserError(e: unknown): e is Error {
  return (
    e instanceof UserError ||
    e instanceof SpecError ||
    e instanceof SchemeError ||
    e instanceof FormatError ||
    e instanceof NoAdapterError ||
    isFsError(e)
  );
}
