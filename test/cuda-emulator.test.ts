import { execFile, spawnSync } from "node:child_process";
import { mkdtempSync, readFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";
import { beforeAll, describe, expect, it } from "vitest";
import { CPU_FLAGS, EMULATOR_DIR, HOST_CXX, hasHostCompiler } from "../backends/cuda/cpu.js";

const cxx = hasHostCompiler();
if (!cxx)
  console.warn(
    `${HOST_CXX} not found: the CUDA CPU execution layer is not tested (apt-get install g++)`,
  );

const source = join(import.meta.dirname, "fixtures/cuda/emulator-cases.cu");
const lines = readFileSync(source, "utf8").split("\n");
const lineOf = (marker: string) => lines.findIndex((l) => l.includes(marker)) + 1;
const dir = mkdtempSync(join(tmpdir(), "qkc-emu-"));
/** the hand-written x86-64 context switch and the portable ucontext one */
const builds = { switch: join(dir, "cases"), ucontext: join(dir, "cases-ucontext") };

function run(exe: string, name: string) {
  return spawnSync(exe, [name], { encoding: "utf8" });
}

describe.skipIf(!cxx)("CUDA CPU execution layer (backends/cuda/emulator)", () => {
  beforeAll(async () => {
    const build = (out: string, extra: string[]) =>
      promisify(execFile)(HOST_CXX, [
        ...CPU_FLAGS,
        ...extra,
        `-I${EMULATOR_DIR}`,
        "-x",
        "c++",
        source,
        "-o",
        out,
      ]);
    await Promise.all([build(builds.switch, []), build(builds.ucontext, ["-DQKC_EMU_UCONTEXT"])]);
  }, 120_000);

  const working = [
    "barrier",
    "shuffles",
    "half_warps",
    "wide_values",
    "dynamic_shared",
    "many_blocks",
    "grid_2d",
  ];
  for (const [kind, exe] of Object.entries(builds))
    it(`${kind}: barriers, shuffles (width, clamp, segments), votes, shared memory, grids`, () => {
      for (const name of working) {
        const r = run(exe, name);
        expect(r.stderr, name).toBe("");
        expect(r.stdout, name).toBe(`ok ${name}\n`);
      }
    });

  const misuse: [string, string, RegExp][] = [
    [
      "bad_divergent_barrier",
      "BAD_DIVERGENT",
      /__syncthreads: thread 32 arrives here while 32 threads wait at .*emulator-cases.cu:\d+ \(divergent barrier\)/,
    ],
    [
      "bad_exit_at_barrier",
      "BAD_EXIT_BARRIER",
      /__syncthreads: thread 7 exited while \d+ threads wait here/,
    ],
    ["bad_exited_lane", "BAD_EXITED", /__shfl_sync: lane 5 of the mask 0xffffffff exited without reaching it/],
    [
      "bad_outside_mask",
      "BAD_OUTSIDE",
      /__shfl_sync: lane 0 reads lane 20, which is not in the mask \(mask 0x0000ffff\)/,
    ],
    [
      "bad_own_lane",
      "BAD_OWN",
      /__shfl_xor_sync: lane 0 calls it with mask 0x00000002, which does not include the lane/,
    ],
    ["bad_width", "BAD_WIDTH", /__shfl_xor_sync: width 12 is not a power of two/],
  ];
  it("misuse aborts with a diagnostic naming the file and line", () => {
    for (const [name, marker, message] of misuse) {
      const r = run(builds.switch, name);
      expect(r.status, name).not.toBe(0);
      expect(r.stdout, name).toBe("");
      expect(r.stderr, name).toContain(`emulator-cases.cu:${lineOf(marker)}: qkc-emu: `);
      expect(r.stderr, name).toMatch(message);
    }
  });

  it("a deadlock names every waiting thread and where it waits", () => {
    const r = run(builds.switch, "bad_deadlock");
    expect(r.status).not.toBe(0);
    expect(r.stderr).toContain("qkc-emu: deadlock in block (0,0,0): no thread can run");
    expect(r.stderr).toContain(
      `emulator-cases.cu:${lineOf("BAD_DEADLOCK_WARP")}: thread 0 (warp 0 lane 0) waits in __syncwarp (mask 0x00000003) for lanes 1`,
    );
    expect(r.stderr).toContain(
      `emulator-cases.cu:${lineOf("BAD_DEADLOCK_BAR")}: thread 1 (warp 0 lane 1) waits in __syncthreads for 1 more threads`,
    );
  });
});
