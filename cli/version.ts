/** qkc's version, read from package.json (found from the source tree or from dist/). */
import { readFileSync } from "node:fs";

let cached: string | undefined;

export function qkcVersion(): string {
  if (cached) return cached;
  for (let dir = new URL(".", import.meta.url), up = 0; up < 4; dir = new URL("..", dir), up++) {
    try {
      const pkg = JSON.parse(readFileSync(new URL("package.json", dir), "utf8")) as {
        name?: string;
        version?: string;
      };
      if (pkg.name === "qkc" && pkg.version) return (cached = pkg.version);
    } catch {
      // no package.json at this level: look one folder up
    }
  }
  return (cached = "unknown");
}
