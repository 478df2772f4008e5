/**
 * The harness of the browser tests: a local server on 127.0.0.1 and Debian's
 * headless Chromium driven by playwright-core, with a fresh profile each run
 * (removed at close).
 */
import { existsSync, mkdtempSync, rmSync } from "node:fs";
import { createServer, type RequestListener } from "node:http";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { chromium, type BrowserContext } from "playwright-core";

export const CHROMIUM = "/usr/bin/chromium";

export interface Browser {
  /** http://127.0.0.1:PORT */
  readonly origin: string;
  readonly context: BrowserContext;
  close(): Promise<void>;
}

/** Serves `handle` on a free port and opens headless Chromium with `args`. */
export async function openBrowser(
  handle: RequestListener,
  args: readonly string[],
): Promise<Browser> {
  if (!existsSync(CHROMIUM))
    throw new Error(`${CHROMIUM} is missing: install Debian's chromium (bash .ci/webgpu-deps)`);
  const server = createServer(handle);
  await new Promise<void>((ok) => server.listen(0, "127.0.0.1", ok));
  const address = server.address();
  const origin = `http://127.0.0.1:${typeof address === "object" && address ? address.port : 0}`;
  const profile = mkdtempSync(join(tmpdir(), "qkc-chromium-"));
  const cleanUp = () => {
    server.close();
    rmSync(profile, { recursive: true, force: true });
  };
  let context: BrowserContext;
  try {
    context = await chromium.launchPersistentContext(profile, {
      executablePath: CHROMIUM,
      headless: true,
      args: [...args],
    });
  } catch (e) {
    cleanUp();
    throw e;
  }
  return {
    origin,
    context,
    async close() {
      await context.close();
      cleanUp();
    },
  };
}
