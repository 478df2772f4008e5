import { describe, expect, it } from "vitest";
import { compile } from "../passes/pipeline.js";
import { builtinScheme } from "../stdlib/index.js";
import { emitCudaPlans } from "../backends/cuda/plans.js";
import { schedule } from "../backends/cuda/schedule.js";
import { demangle, parsePtxas, scanPtx } from "../backends/cuda/nvcc.js";
import type { KernelSpec } from "../ir/program.js";
import { K, type Stmt } from "../ir/kernel.js";
import { laneGroup } from "../backends/lane-groups.js";
import { laneChunks } from "../backends/cuda/vectorize.js";
import { kernelRequest } from "./kernel-request.js";

const spec = (name: string, kind: KernelSpec["kind"]): KernelSpec =>
  kernelRequest(builtinScheme(name)!, kind);

describe("CUDA schedules and printing", () => {
  it("chooses lane groups, exact reductions, hoisted amax and thread mode from the IR's shape", () => {
    const { plans, artifact } = emitCudaPlans(
      [
        spec("mxfp4", "quantize"),
        spec("nvfp4", "qdq"),
        spec("int4_g128_asym", "qdq"),
        spec("mxfp4", "gemv"),
      ].map((s) => compile(s).plan),
    );
    const info = Object.fromEntries(artifact.kernels.map((k) => [k.name, k]));
    // a lane takes chunks of 4 f32 (one 128-bit load): 8 lanes per block of 32, 4 per block of 16
    expect(info.quantize_mxfp4_codes).toMatchObject({
      mode: "group",
      lanes: 8,
      chunk: 4,
      workspaceBytes: 0,
    });
    expect(info.quantize_mxfp4_pack).toMatchObject({ mode: "thread", lanes: 1, chunk: 1 });
    expect(info.qdq_nvfp4).toMatchObject({ mode: "group", lanes: 4, workspaceBytes: 4 });
    expect(info.qdq_nvfp4.globals).toEqual(["qdq_nvfp4_amax0", "qdq_nvfp4_kernel"]);
    expect(info.gemv_mxfp4).toMatchObject({
      mode: "thread",
      schedule: expect.stringMatching(/declared order/),
    });
    // the asymmetric min/max carry their first index; the |x| max does not
    const asym = plans.find((p) => p.spec.name === "qdq_int4_g128_asym")!.kernels[0];
    const reductions = [...schedule(asym, 128).loops.values()].find(
      (v) => v !== "map",
    ) as readonly {
      kind: string;
      indexed: boolean;
    }[];
    expect(reductions.map((r) => [r.kind, r.indexed])).toEqual([
      ["any", false],
      ["first_max", false],
      ["first_min", true],
      ["first_max", true],
    ]);
  });

  it("prints no contraction-prone f32 operator and no 64-bit divide in a kernel body", () => {
    const { artifact } = emitCudaPlans([compile(spec("nvfp4", "qdq")).plan]);
    const body = artifact.cu.slice(artifact.cu.indexOf("__global__"));
    expect(body).toMatch(/__fmul_rn\(/);
    expect(body).toMatch(/__fdiv_rn\(/);
    // every float variable is combined through the intrinsics: no `float x = a * b;` forms
    for (const line of body.split("\n").filter((l) => /^\s+float \w+ = /.test(l)))
      expect(line, line).not.toMatch(/\(\s*\w+ [*+/-] \w+\s*\)/);
    expect(artifact.header).toContain(
      "cudaError_t qdq_nvfp4(const float* x, float* y, int32_t outer, int32_t n, int32_t inner, uint32_t* workspace, cudaStream_t stream);",
    );
  });

  it("reads ptxas reports and PTX: demangled names, index width, spills, load widths", () => {
    expect(demangle("_Z24gemv_int8_channel_kernelIiEvPKhPKjPKfPfii")).toEqual({
      kernel: "gemv_int8_channel_kernel",
      indexBits: 32,
    });
    expect(demangle("_Z17qdq_nf4_dq_kernelIlEvPKhPKjPfiii")).toEqual({
      kernel: "qdq_nf4_dq_kernel",
      indexBits: 64,
    });
    const log = [
      "ptxas info    : Compiling entry function '_Z1kIiEvPf' for 'sm_90a'",
      "ptxas info    : Function properties for _Z1kIiEvPf",
      "    8 bytes stack frame, 4 bytes spill stores, 4 bytes spill loads",
      "ptxas warning : Registers are spilled to local memory in function '_Z1kIiEvPf', 4 bytes spill stores, 4 bytes spill loads",
      "ptxas info    : Used 40 registers, used 0 barriers, 1024 bytes smem, 376 bytes cmem[0]",
    ].join("\n");
    const [r] = parsePtxas(log);
    expect(r).toMatchObject({
      kernel: "k",
      indexBits: 32,
      arch: "sm_90a",
      registers: 40,
      stackBytes: 8,
      spillStores: 4,
      spillLoads: 4,
      sharedBytes: 1024,
    });
    expect(r.warnings).toHaveLength(1);
    const ptx = scanPtx(
      ".visible .entry _Z1kIiEvPf(\n\tld.global.nc.v4.f32 {%f1, %f2, %f3, %f4}, [%rd1];\n\tld.global.nc.u8 %rs1, [%rd2];\n\tst.global.f32 [%rd3], %f1;\n\tret;\n}\n",
    ).get("_Z1kIiEvPf")!;
    expect(ptx.loads).toEqual({ "128": 1, "8": 1 });
    expect(ptx.stores).toEqual({ "32": 1 });
  });
});

describe("CUDA vector chunks of packed codes and GEMV lane groups", () => {
  const infoOf = (name: string, kind: KernelSpec["kind"]) => {
    const { artifact } = emitCudaPlans([compile(spec(name, kind)).plan]);
    return artifact.kernels.at(-1)!;
  };

  it("dequantize reads packed nibbles and 6-bit codes as vector loads of their code index", () => {
    // 32 nibbles = 16 bytes per chunk (one thread per block of 32); a block of 16 is 8 bytes
    expect(infoOf("mxfp4", "dequantize")).toMatchObject({
      mode: "thread",
      chunk: 32,
      vectorLoadBits: 128,
    });
    expect(infoOf("nvfp4", "dequantize")).toMatchObject({ chunk: 16, vectorLoadBits: 64 });
    expect(infoOf("mxfp6_e2m3", "dequantize")).toMatchObject({ chunk: 32, vectorLoadBits: 64 });
    const { artifact } = emitCudaPlans([compile(spec("mxfp4", "dequantize")).plan]);
    expect(artifact.cu).toContain("qkc_vload_nibbles<false>(qkc_codes_v, qkc_codes_at);");
  });

  it("GEMV runs its 16 lane groups from registers: R = 2 iterations for nibbles, 1 for bytes", () => {
    expect(infoOf("mxfp4", "gemv")).toMatchObject({
      mode: "thread",
      chunk: 32,
      vectorLoadBits: 128,
    });
    expect(infoOf("mxfp8_e4m3", "gemv")).toMatchObject({ chunk: 16, vectorLoadBits: 128 });
    const { artifact } = emitCudaPlans([compile(spec("mxfp4", "gemv")).plan]);
    // every lane reads its own register, the guard dropped only where all lanes are in range
    for (let c = 0; c < 16; c++) expect(artifact.cu).toContain(`qkc_codes_v[qkc_r * 16 + ${c}]`);
    expect(artifact.cu).toMatch(/\(\(qkc_index_t\)qkc_kb0 \* \(qkc_index_t\)16\) \+ 32 <= K/);
  });

  it("a lane group is 16 copies of one lane: a differing or cross-reading lane is none", () => {
    const k = compile(spec("mxfp4", "gemv")).plan.kernels[0];
    const row = k.body.find((s) => s.op === "for")! as Extract<Stmt, { op: "for" }>;
    const kb = row.body.find((s) => s.op === "for")! as Extract<Stmt, { op: "for" }>;
    expect(laneGroup(kb)?.lanes.length).toBe(16);
    const edit = (c: number, f: (lane: Stmt[]) => Stmt[]): Extract<Stmt, { op: "for" }> => {
      const body = kb.body.filter((s) => s.op !== "comment");
      const guard = body[2 * c + 1] as Extract<Stmt, { op: "if" }>;
      return {
        ...kb,
        body: body.map((s) => (s === guard ? { ...guard, then: f([...guard.then]) } : s)),
      };
    };
    expect(laneGroup(edit(3, (lane) => lane))?.lanes.length).toBe(16);
    // lane 3 multiplies by 2 once more
    const other = edit(3, (lane) => {
      const last = lane.at(-1) as Extract<Stmt, { op: "assign" }>;
      return [
        ...lane.slice(0, -1),
        { ...last, value: { op: "binary", kind: "mul", a: last.value, b: K.f32(2), type: "f32" } },
      ];
    });
    expect(laneGroup(other)).toBeUndefined();
    // lane 5 adds lane 4's accumulator
    const group = laneGroup(kb)!;
    const cross = edit(5, (lane) => {
      const last = lane.at(-1) as Extract<Stmt, { op: "assign" }>;
      const acc4 = K.v(group.lanes[4].acc, "f32");
      return [
        ...lane.slice(0, -1),
        { ...last, value: { op: "binary", kind: "add", a: last.value, b: acc4, type: "f32" } },
      ];
    });
    expect(laneGroup(cross)).toBeUndefined();
    // a limit that moves with the loop is a lane group, but no chunk (its range is tested once a chunk)
    expect(laneChunks(k, kb)?.iterations).toBe(2);
    const moving: Extract<Stmt, { op: "for" }> = {
      ...kb,
      body: kb.body.map((s) =>
        s.op === "if" && s.cond.op === "binary"
          ? { ...s, cond: { ...s.cond, b: K.v(kb.var, "i32") } }
          : s,
      ),
    };
    expect(laneGroup(moving)?.lanes.length).toBe(16);
    expect(laneChunks(k, moving)).toBeUndefined();
  });
});
