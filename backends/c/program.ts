/**
 * A standalone C program that runs one compiled plan on a fixed shape: reads
 * its inputs from `<dir>/<buffer>.bin`, runs the steps `reps` times, writes the
 * outputs back as `<buffer>.bin`, and prints the median milliseconds. Used by
 * the native reference of `npm run bench` and by the C printer's tests.
 */
import { bufferLength } from "../host.js";
import { geometryScalars } from "../../passes/lower/geometry.js";
import type { Plan } from "../../passes/lower.js";
import type { Kernel } from "../../ir/kernel.js";
import { elementCount } from "../../ir/tensor.js";
import { C_PRELUDE, printKernelC } from "./emit.js";

const ELEM_C = {
  f32: "float",
  u8: "uint8_t",
  i8: "int8_t",
  u16: "uint16_t",
  u32: "uint32_t",
} as const;

export function planProgram(plan: Plan, shape: readonly number[], seed = 0): string {
  if (plan.steps.some((s) => "host" in s))
    throw new Error(`${plan.spec.name}: host steps are not generated in C yet`);
  const tables = new Set<string>();
  const kernels: Kernel[] = plan.kernels.map((k) => ({
    ...k,
    tables: k.tables.filter((t) => !tables.has(t.name) && tables.add(t.name)),
  }));
  const geometry = {
    ...geometryScalars(plan.spec.scheme.block, shape),
    seed_lo: seed >>> 0,
    seed_hi: Math.floor(seed / 2 ** 32) >>> 0,
  };
  const scalarsFor = (kind: string): Record<string, number> =>
    kind === "count"
      ? { n: elementCount(shape) }
      : kind === "matrix"
        ? { N: shape[0], K: shape[1] }
        : geometry;
  const lines = [
    C_PRELUDE,
    "#include <stdio.h>",
    "#include <stdlib.h>",
    "#include <time.h>",
    ...kernels.map(printKernelC),
  ];
  lines.push(`static void *load(const char *dir, const char *name, size_t bytes, int input) {
  void *p = calloc(bytes ? bytes : 1, 1);
  if (!input) return p;
  char path[4096]; snprintf(path, sizeof path, "%s/%s.bin", dir, name);
  FILE *f = fopen(path, "rb"); if (!f || fread(p, 1, bytes, f) != bytes) { fprintf(stderr, "cannot read %s\\n", path); exit(2); }
  fclose(f); return p;
}
static void save(const char *dir, const char *name, const void *p, size_t bytes) {
  char path[4096]; snprintf(path, sizeof path, "%s/%s.bin", dir, name);
  FILE *f = fopen(path, "wb"); fwrite(p, 1, bytes, f); fclose(f);
}
static double now_ms(void) { struct timespec t; clock_gettime(CLOCK_MONOTONIC, &t); return t.tv_sec * 1e3 + t.tv_nsec / 1e6; }
static int cmp(const void *a, const void *b) { double x = *(const double *)a, y = *(const double *)b; return (x > y) - (x < y); }`);
  lines.push(
    "int main(int argc, char **argv) {",
    "  const char *dir = argv[1]; int reps = argc > 2 ? atoi(argv[2]) : 1;",
  );
  for (const b of plan.buffers) {
    const bytes =
      bufferLength(plan, b.length, shape) * { f32: 4, u8: 1, i8: 1, u16: 2, u32: 4 }[b.elem];
    lines.push(
      `  ${ELEM_C[b.elem]} *${b.name} = load(dir, "${b.name}", ${bytes}u, ${b.role === "input" ? 1 : 0});`,
    );
  }
  lines.push(
    "  double t[64]; if (reps > 64) reps = 64;",
    "  for (int r = 0; r < reps; r++) {",
    "    double t0 = now_ms();",
  );
  const byName = new Map(plan.kernels.map((k) => [k.name, k]));
  for (const step of plan.steps) {
    if ("host" in step) continue;
    const k = byName.get(step.kernel)!;
    const scalars = scalarsFor(step.scalars);
    const args = k.params.map((p) =>
      p.kind === "buffer"
        ? step.bind[p.name]
        : `(${p.type === "f32" ? "float" : p.type === "u32" ? "uint32_t" : "int32_t"})${scalars[p.name]}${p.type === "u32" ? "u" : ""}`,
    );
    lines.push(`    ${k.name}(${args.join(", ")});`);
  }
  lines.push(
    "    t[r] = now_ms() - t0;",
    "  }",
    "  qsort(t, reps, sizeof t[0], cmp);",
    '  printf("%.4f\\n", t[reps / 2]);',
  );
  for (const b of plan.buffers)
    if (b.role === "output") {
      const bytes =
        bufferLength(plan, b.length, shape) * { f32: 4, u8: 1, i8: 1, u16: 2, u32: 4 }[b.elem];
      lines.push(`  save(dir, "${b.name}", ${b.name}, ${bytes}u);`);
    }
  lines.push("  return 0;", "}");
  return lines.join("\n");
}
