/**
 * The folder where --backend cuda keeps what it builds or decides once per
 * machine (kernel builds, cvt verdicts): $QKC_CACHE_DIR, else ~/.cache/qkc/cuda
 * (the temp folder when there is no home).
 */
import { existsSync } from "node:fs";
import { homedir, tmpdir } from "node:os";
import { join } from "node:path";

export const cacheRoot = (): string =>
  process.env.QKC_CACHE_DIR ??
  join(existsSync(homedir()) ? join(homedir(), ".cache") : tmpdir(), "qkc", "cuda");
