/**
 * Hardware conversions (backends/cuda/cvt.ts): which element encoders a PTX
 * cvt replaces, that the replaced software path (what every arch without the
 * instruction runs, and the CPU execution layer) equals the interpreter on
 * every bit-pattern class that decides a code, and that each cvt is compiled
 * for the archs that have it and no other.
 */
import { mkdtempSync, readdirSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { beforeAll, describe, expect, it, vi } from "vitest";
import { compile } from "../passes/pipeline.js";
import { emitCuda } from "../backends/cuda/emit.js";
import { buildCpuAsync, cpuExecute, hasHostCompiler } from "../backends/cuda/cpu.js";
import { findNvcc, nvccPtx } from "../backends/cuda/nvcc.js";
import {
  encoderProbe,
  HARDWARE,
  hardwareEncoders,
  hardwareModel,
  type HardwareFormat,
} from "../backends/cuda/cvt.js";
import { codec } from "../ir/formats/index.js";
import { builtinScheme } from "../stdlib/index.js";
import { scheme, type Scheme } from "../ir/scheme.js";
import type { Kernel } from "../ir/kernel.js";
import { kernelRequest } from "./kernel-request.js";

const f32 = new Float32Array(1);
const u32 = new Uint32Array(f32.buffer);
const fromBits = (b: number) => ((u32[0] = b >>> 0), f32[0]);

/** The element encoders of a scheme's qdq kernel that a cvt replaces. */
const encodersOf = (s: Scheme) => {
  const k = compile(kernelRequest(s, "qdq")).plan.kernels.at(-1)!;
  return { k, found: [...hardwareEncoders(k).values()] };
};

const mapped: [string, HardwareFormat][] = [
  ["mxfp4", "e2m1"],
  ["nvfp4", "e2m1"],
  ["mxfp6_e2m3", "e2m3"],
  ["mxfp6_e3m2", "e3m2"],
  ["mxfp8_e4m3", "e4m3"],
  ["mxfp8_e5m2", "e5m2"],
];

describe("PTX conversions for element encoders", () => {
  it("the model of cvt.rn.satfinite gives SEMANTICS.md's golden codes", () => {
    const e2m1 = hardwareModel("e2m1");
    const inputs = [0.25, 0.75, 1.25, 1.75, 2.5, 3.5, 5.0, 5.01, 6.5, 100, -0.25, -0.3, -2];
    expect(inputs.map(e2m1)).toEqual([
      0x0, 0x2, 0x2, 0x4, 0x4, 0x6, 0x6, 0x7, 0x7, 0x7, 0x8, 0x9, 0xc,
    ]);
    const e4m3 = hardwareModel("e4m3");
    expect([449, 464, 465, 500, Infinity, -Infinity].map(e4m3)).toEqual([
      0x7e, 0x7e, 0x7e, 0x7e, 0x7e, 0xfe,
    ]);
    expect(e4m3(240.5)).toBe(0x77); // 240
    expect(e4m3(0.3)).toBe(0x2a); // 0.3125
    expect([2 ** -10, 1.5 * 2 ** -10, -0].map(e4m3)).toEqual([0x00, 0x01, 0x80]);
    expect(hardwareModel("e5m2")(1e9)).toBe(0x7b); // 57344, never Inf
  });

  it("replaces exactly the round-to-nearest-even, saturating float encoders", () => {
    for (const [name, format] of mapped) {
      const { found } = encodersOf(builtinScheme(name)!);
      expect(
        found.map((h) => h.format),
        name,
      ).toEqual([format]);
    }
    const base = builtinScheme("mxfp4")!;
    const others = [
      builtinScheme("nf4")!, // a table format
      builtinScheme("mxint8")!,
      builtinScheme("int4_g128_asym")!,
      scheme({ ...base, name: "mxfp4_away", rounding: { mode: "nearest_away", randomBits: 8 } }),
      scheme({ ...base, name: "mxfp4_rz", rounding: { mode: "toward_zero", randomBits: 8 } }),
      scheme({ ...base, name: "mxfp4_sr", rounding: { mode: "stochastic", randomBits: 8 } }),
    ];
    for (const s of others) expect(encodersOf(s).found, s.name).toEqual([]);
  });

  it("a verdict belongs to the encoder's table contents, and is kept on disk", async () => {
    const saved = process.env.QKC_CACHE_DIR;
    process.env.QKC_CACHE_DIR = mkdtempSync(join(tmpdir(), "qkc-cvt-cache-"));
    try {
      const { k, found } = encodersOf(builtinScheme("mxfp4")!);
      const memo = (found[0].lookup.value as { table: string }).table;
      // the same IR over a memo with one decided bucket changed (1.0 encoded as 1.5) is no cvt
      const one = new Uint32Array(Float32Array.of(1).buffer)[0] >>> 16;
      const tables = k.tables.map((t) =>
        t.name === memo ? { ...t, values: t.values.map((v, j) => (j === one ? 3 : v)) } : t,
      );
      const altered = { ...k, tables };
      expect(hardwareEncoders(altered).size).toBe(0);
      const files = () => readdirSync(join(process.env.QKC_CACHE_DIR!, "cvt"));
      expect(files()).toHaveLength(1);
      // a fresh process (here: a fresh module) reads the stored verdicts; a garbled file is decided again
      writeFileSync(join(process.env.QKC_CACHE_DIR!, "cvt", files()[0]), "{");
      vi.resetModules();
      const fresh = await import("../backends/cuda/cvt.js");
      expect(fresh.hardwareEncoders(altered).size).toBe(0);
      expect([...fresh.hardwareEncoders(k).values()].map((h) => h.format)).toEqual(["e2m1"]);
      expect(files()).toHaveLength(2);
      const stored = files().map((f) =>
        readFileSync(join(process.env.QKC_CACHE_DIR!, "cvt", f), "utf8"),
      );
      const verdict = JSON.stringify({ format: "e2m1", nanCode: found[0].nanCode });
      expect(stored.sort()).toEqual([verdict, "null"].sort());
      // a fresh process takes the stored verdict: k's file made to say "no cvt" is believed
      const kFile = join(process.env.QKC_CACHE_DIR!, "cvt", files()[stored.indexOf(verdict)]);
      const freshFormats = async (text: string) => {
        writeFileSync(kFile, text);
        vi.resetModules();
        const m = await import("../backends/cuda/cvt.js");
        return [...m.hardwareEncoders(k).values()].map((h) => [h.format, h.nanCode]);
      };
      expect(await freshFormats("null")).toEqual([]);
      // a file that parses but holds no verdict (an unknown format, a code out of range) is decided again
      for (const bad of ['{"format":"toString","nanCode":1}', '{"format":"e2m1","nanCode":16}', "7"]) {
        expect(await freshFormats(bad), bad).toEqual([["e2m1", found[0].nanCode]]);
        expect(readFileSync(kFile, "utf8"), bad).toBe(verdict);
      }
    } finally {
      if (saved === undefined) delete process.env.QKC_CACHE_DIR;
      else process.env.QKC_CACHE_DIR = saved;
    }
  });

  /** One probe kernel per mapped format: codes[i] = the scheme's own encoder of x[i]. */
  const probes = (): { s: Scheme; probe: Kernel; format: HardwareFormat }[] =>
    mapped
      .filter(([name]) => name !== "nvfp4") // the same encoder as mxfp4
      .map(([name, format]) => {
        const s = builtinScheme(name)!;
        const { k, found } = encodersOf(s);
        return { s, format, probe: encoderProbe(k, found[0], `encode_${format}`) };
      });

  describe.skipIf(!hasHostCompiler())("the software path on the CPU execution layer", () => {
    let run: ReturnType<typeof cpuExecute>;
    const cases = probes();
    beforeAll(async () => {
      const artifact = emitCuda(cases.map((c) => c.probe));
      run = cpuExecute(
        await buildCpuAsync(artifact, mkdtempSync(join(tmpdir(), "qkc-cvt-")), "-O1"),
      );
    }, 240_000);

    // every 16-bit prefix with the low bits 0, 1, 0x8000, 0xffff: all ties and both sides of them,
    // every memo bucket's ends, +-0, subnormals, +-Inf and NaNs of every payload class
    const x = Float32Array.from({ length: 4 * 65536 }, (_, j) =>
      fromBits(((j >> 2) << 16) | [0, 1, 0x8000, 0xffff][j & 3]),
    );
    for (const c of cases)
      it(`${c.format} (${c.s.name}): equals the interpreter, and the cvt model wherever x is a number`, () => {
        const codes = new Uint32Array(x.length);
        run(c.probe, { x, codes }, { n: x.length });
        const ref = codec(c.s.element);
        const model = hardwareModel(c.format);
        const nan = [...hardwareEncoders(c.probe).values()][0].nanCode;
        const wrong: string[] = [];
        for (let j = 0; j < x.length && wrong.length < 5; j++) {
          const want = ref.encode(x[j], c.s.rounding, c.s.overflow);
          const hw = Number.isNaN(x[j]) ? nan : model(x[j]);
          if (codes[j] !== want || hw !== want)
            wrong.push(
              `x=${x[j]} (0x${new Uint32Array(x.buffer, 4 * j, 1)[0].toString(16)}): interpreter ${want}, CUDA ${codes[j]}, cvt model ${hw}`,
            );
        }
        expect(wrong).toEqual([]);
      });
  });

  describe.skipIf(!findNvcc())(
    "each cvt is compiled for the archs that have it, and only there",
    () => {
      const artifact = emitCuda(probes().map((c) => c.probe));
      const has: Record<string, HardwareFormat[]> = {
        sm_80: [],
        sm_89: ["e4m3", "e5m2"],
        sm_90a: ["e4m3", "e5m2"],
        sm_100a: ["e2m1", "e2m3", "e3m2", "e4m3", "e5m2"],
        sm_120a: ["e2m1", "e2m3", "e3m2", "e4m3", "e5m2"],
      };
      for (const [arch, formats] of Object.entries(has))
        it(`${arch}: ${formats.join(", ") || "software everywhere"}`, async () => {
          const ptx = await nvccPtx(
            findNvcc()!,
            artifact,
            mkdtempSync(join(tmpdir(), "qkc-cvt-ptx-")),
            arch,
          );
          for (const f of Object.keys(HARDWARE) as HardwareFormat[]) {
            const text = ptx.get(`encode_${f}_kernel/32`)?.text ?? "";
            expect(text.includes(HARDWARE[f].ptx), `${arch} encode_${f}: ${HARDWARE[f].ptx}`).toBe(
              formats.includes(f),
            );
          }
        }, 120_000);
    },
  );
});
