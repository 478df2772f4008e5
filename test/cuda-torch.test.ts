/**
 * `qkc compile --target cuda --emit torch`: the extension is built in its CPU
 * mode (the same kernels.cu on qkc's CUDA execution layer) with Debian's
 * PyTorch, its functions are called from Python on torch tensors, and every
 * result is compared bit for bit with the interpreter. One build, one Python
 * process for every call.
 */
import { execFile, spawnSync } from "node:child_process";
import {
  existsSync,
  mkdirSync,
  mkdtempSync,
  readFileSync,
  realpathSync,
  writeFileSync,
} from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { promisify } from "node:util";
import { beforeAll, describe, expect, it } from "vitest";
import { main } from "../cli/main.js";
import { hasHostCompiler, HOST_CXX } from "../backends/cuda/cpu.js";
import { findNvcc } from "../backends/cuda/nvcc.js";
import { emitCudaPlans } from "../backends/cuda/plans.js";
import { emitTorch, packageName } from "../backends/cuda/torch.js";
import { torchTensors } from "../backends/cuda/torch-layout.js";
import { defaultKernels } from "../cli/commands/compile.js";
import { compile } from "../passes/pipeline.js";
import { dequantize, gemv, qdq, qdqBackward, quantize, rotate } from "../ir/interpret/index.js";
import { packNibbles } from "../ir/layout/index.js";
import { BUILTIN_SCHEMES, builtinScheme } from "../stdlib/index.js";
import { scheme, type Scheme } from "../ir/scheme.js";
import type { Tensor } from "../ir/tensor.js";
import { corpus } from "./corpus/corpus.js";

const PYTHON = "/usr/bin/python3";
const INSTALL =
  "apt-get install -y --no-install-recommends python3-torch libtorch-dev pybind11-dev python3-setuptools (bash .ci/torch-deps does this)";

/** Why the extension cannot be built here, or undefined. */
function missing(): string | undefined {
  if (!hasHostCompiler()) return `${HOST_CXX} not found: apt-get install g++`;
  const probe = spawnSync(
    PYTHON,
    [
      "-c",
      "import os, setuptools, torch.utils.cpp_extension as c; " +
        "assert any(os.path.exists(os.path.join(p, 'pybind11', 'pybind11.h')) for p in c.include_paths() + ['/usr/include']), 'pybind11 headers'",
    ],
    { encoding: "utf8" },
  );
  if (probe.status !== 0)
    return `PyTorch, setuptools or the pybind11 headers are missing for ${PYTHON} (${(probe.stderr || probe.error?.message || "").trim().split("\n").pop()}): ${INSTALL}`;
  return undefined;
}
const why = missing();
if (why) console.warn(`test/cuda-torch: the PyTorch extension is not built or run: ${why}`);

/** The CUDA toolkit's include folder (for the CUDA build's binding), or undefined. */
function cudaInclude(): string | undefined {
  const nvcc = findNvcc();
  const onPath = (process.env.PATH ?? "")
    .split(":")
    .map((d) => join(d, "nvcc"))
    .find((f) => existsSync(f));
  return [
    process.env.CUDA_HOME && join(process.env.CUDA_HOME, "include"),
    ...[nvcc, onPath].map(
      (f) => f && existsSync(f) && join(dirname(realpathSync(f)), "..", "include"),
    ),
    "/usr/local/cuda/include",
  ].find((d): d is string => !!d && existsSync(join(d, "cuda_runtime.h")));
}
const cuda = why ? undefined : cudaInclude();
if (!why && !cuda)
  console.warn(
    "test/cuda-torch: no CUDA toolkit headers: the CUDA build's binding is not compiled",
  );

/** The binding of every built-in scheme's default kernels (and the header it includes), written to `into`. */
function writeEveryScheme(into: string): void {
  const specs = BUILTIN_SCHEMES.flatMap(defaultKernels);
  const { artifact, plans } = emitCudaPlans(specs.map((sp) => compile(sp).plan));
  const ext = emitTorch(plans, artifact, { source: "stdlib", arch: "sm_90a", title: "stdlib" });
  mkdirSync(into, { recursive: true });
  writeFileSync(join(into, "kernels.h"), artifact.header);
  writeFileSync(join(into, "torch_binding.cpp"), ext.files.get("torch_binding.cpp")!);
}

/**
 * g++ -fsyntax-only of torch_binding.cpp as the CUDA build compiles it, against
 * PyTorch's and the toolkit's headers. Debian's CPU PyTorch ships c10/cuda
 * without its generated cuda_cmake_macros.h: a one-line stand-in supplies it.
 */
async function compileCudaBinding(pkg: string, shim: string): Promise<void> {
  const paths = spawnSync(
    PYTHON,
    [
      "-c",
      "import json, sysconfig, torch.utils.cpp_extension as c; print(json.dumps(c.include_paths() + [sysconfig.get_paths()['include']]))",
    ],
    { encoding: "utf8" },
  );
  const includes = JSON.parse(paths.stdout) as string[];
  const macros = join("c10", "cuda", "impl", "cuda_cmake_macros.h");
  if (!includes.some((d) => existsSync(join(d, macros)))) {
    mkdirSync(join(shim, dirname(macros)), { recursive: true });
    writeFileSync(join(shim, macros), "#define C10_CUDA_BUILD_SHARED_LIBS\n");
  }
  await promisify(execFile)(
    HOST_CXX,
    [
      "-std=c++17",
      "-fsyntax-only",
      "-Wall",
      "-Werror",
      "-Wno-deprecated-declarations",
      ...[...includes, shim, cuda!].map((d) => `-I${d}`),
      "-DTORCH_EXTENSION_NAME=_C",
      "-DTORCH_API_INCLUDE_EXTENSION_H",
      join(pkg, "torch_binding.cpp"),
    ],
    { maxBuffer: 1 << 24 },
  );
}

const QS = `
scheme mxfp4_sr extends mxfp4 { rounding: stochastic { bits: 8 } }
scheme nvfp4_tile16 extends nvfp4 { block: 16 x 16 }
kernel quantize_mxfp4 = quantize(mxfp4) { layout: packed }
kernel dequantize_mxfp4 = dequantize(mxfp4) { layout: packed }
kernel qdq_mxfp4 = qdq(mxfp4)
kernel qdq_backward_mxfp4 = qdq_backward(mxfp4)
kernel gemv_mxfp4 = gemv(weights: mxfp4, activations: f32) { order: fixed, layout: packed }
kernel qdq_mxfp4_sr = qdq(mxfp4_sr)
kernel qdq_mxfp4_rot = qdq(mxfp4, rotate: hadamard(32, seed: 5))
kernel quantize_nvfp4 = quantize(nvfp4) { layout: packed }
kernel dequantize_nvfp4 = dequantize(nvfp4) { layout: packed }
kernel qdq_nvfp4 = qdq(nvfp4)
kernel qdq_nvfp4_bf16 = qdq(nvfp4) { input: bf16 }
kernel gemv_nvfp4 = gemv(weights: nvfp4, activations: f32) { order: fixed, layout: packed }
kernel quantize_nvfp4_tile16 = quantize(nvfp4_tile16) { layout: packed }
kernel quantize_nf4_dq = quantize(nf4_dq) { layout: packed }
kernel dequantize_nf4_dq = dequantize(nf4_dq) { layout: packed }
kernel qdq_nf4_dq = qdq(nf4_dq)
kernel quantize_int4 = quantize(int4_g128_asym) { layout: packed }
kernel dequantize_int4 = dequantize(int4_g128_asym) { layout: packed }
`;

/** Runs every call in one Python process; each result is its outputs' bytes, or the error's first line. */
const DRIVER = String.raw`
import json, sys
import numpy as np
import torch
sys.path.insert(0, sys.argv[1])
import qkc_kernels as q
job = json.load(open(sys.argv[2]))
def load(a):
    t = torch.from_numpy(np.fromfile(a["file"], dtype=np.uint8))
    t = t.view(getattr(torch, a["dtype"])).reshape(a["shape"])
    return t.t() if a.get("transpose") else t
results = []
for n, call in enumerate(job["calls"]):
    try:
        args = [load(a) for a in call["args"]]
        if "grad" in call:  # the gradient of fn(x) . grad, through autograd
            args[0].requires_grad_()
            getattr(q, call["fn"])(*args, **call["kwargs"]).backward(load(call["grad"]))
            out = args[0].grad
        else:
            out = getattr(q, call["fn"])(*args, **call["kwargs"])
    except RuntimeError as e:
        results.append({"error": str(e).splitlines()[0]})
        continue
    outs = list(out) if isinstance(out, tuple) else [out]
    rec = []
    for i, t in enumerate(outs):
        path = job["dir"] + "/out-%d-%d.bin" % (n, i)
        t.contiguous().reshape(-1).view(torch.uint8).numpy().tofile(path)
        rec.append({"file": path, "dtype": str(t.dtype)[6:], "shape": list(t.shape)})
    results.append({"outputs": rec, "fields": list(getattr(out, "_fields", []))})
json.dump({"device": q.DEVICE, "results": results}, open(job["dir"] + "/results.json", "w"))
`;

type Bytes = Uint8Array | Float32Array | Uint16Array | Uint32Array;
interface Arg {
  data: Bytes;
  dtype: string;
  shape: number[];
  transpose?: boolean;
}
interface Output {
  bytes: Uint8Array;
  dtype: string;
  shape: number[];
}
interface Result {
  outputs?: Output[];
  fields?: string[];
  error?: string;
}

const u8 = (b: Bytes) => new Uint8Array(b.buffer, b.byteOffset, b.byteLength);
const f32 = (o: Output) => new Float32Array(o.bytes.buffer, o.bytes.byteOffset, o.bytes.length / 4);
const bits = (a: Float32Array) => Array.from(new Uint32Array(a.buffer, a.byteOffset, a.length));
const outBits = (o: Output) => bits(f32(o));
const byName = (name: string) => builtinScheme(name)!;

const dir = mkdtempSync(join(tmpdir(), "qkc-torch-"));
const pkg = join(dir, "ext");

/** Calls queued by the tests' set-up, run in one Python process, answered by index. */
class Calls {
  private readonly calls: {
    fn: string;
    args: Arg[];
    kwargs: Record<string, unknown>;
    grad?: Arg;
  }[] = [];
  results: Result[] = [];
  add(fn: string, args: Arg[], kwargs: Record<string, unknown> = {}, grad?: Arg): number {
    this.calls.push({ fn, args, kwargs, ...(grad ? { grad } : {}) });
    return this.calls.length - 1;
  }
  async run(): Promise<string> {
    const saved = (a: Arg, name: string) => {
      const file = join(dir, name);
      writeFileSync(file, u8(a.data));
      return { file, dtype: a.dtype, shape: a.shape, transpose: a.transpose };
    };
    const job = {
      dir,
      calls: this.calls.map((c, n) => ({
        ...c,
        args: c.args.map((a, j) => saved(a, `in-${n}-${j}.bin`)),
        ...(c.grad ? { grad: saved(c.grad, `grad-${n}.bin`) } : {}),
      })),
    };
    writeFileSync(join(dir, "job.json"), JSON.stringify(job));
    writeFileSync(join(dir, "driver.py"), DRIVER);
    await promisify(execFile)(PYTHON, [join(dir, "driver.py"), pkg, join(dir, "job.json")], {
      maxBuffer: 1 << 24,
    });
    const r = JSON.parse(readFileSync(join(dir, "results.json"), "utf8")) as {
      device: string;
      results: (Omit<Result, "outputs"> & {
        outputs?: (Omit<Output, "bytes"> & { file: string })[];
      })[];
    };
    this.results = r.results.map((x) => ({
      ...x,
      outputs: x.outputs?.map((o) => ({ ...o, bytes: new Uint8Array(readFileSync(o.file)) })),
    }));
    return r.device;
  }
}

const x32 = (data: Float32Array, shape: number[]): Arg => ({ data, dtype: "float32", shape });
const cases = corpus();

describe.skipIf(why !== undefined)("qkc compile --emit torch: the extension on CPU tensors", () => {
  const calls = new Calls();
  const expected: { name: string; call: number; error?: true; check: (r: Result) => void }[] = [];
  let device = "";
  let cudaBinding: Promise<string> | undefined;
  let cli = { code: -1, out: "", err: "" };

  /** Queues fn(args) and what its outputs must be. */
  const expect_ = (
    name: string,
    fn: string,
    args: Arg[],
    check: (r: Result) => void,
    kwargs = {},
  ) => expected.push({ name, call: calls.add(fn, args, kwargs), check });

  const outputsOf = (r: Result, name: string): Output[] => {
    expect(r.error, name).toBeUndefined();
    return r.outputs!;
  };

  function queueScheme(s: Scheme, prefix: string, gemvToo: boolean): void {
    for (const c of cases) {
      const shape = [c.rows, c.cols];
      const t: Tensor = { dtype: "f32", shape, data: c.data };
      const ref = quantize(s, t);
      const codes = packNibbles(Uint8Array.from(ref.codes), "low_first");
      const packedShape = c.cols % 2 === 0 ? [c.rows, c.cols / 2] : [codes.length];
      const tag = `${prefix} ${c.name}`;
      expect_(`${tag} quantize`, `quantize_${prefix}`, [x32(c.data, shape)], (r) => {
        const [q, sc, ts] = outputsOf(r, tag);
        expect(r.fields?.slice(0, 2), tag).toEqual(["codes", "scales"]);
        expect(q.shape, `${tag} codes shape`).toEqual(packedShape);
        expect(Array.from(q.bytes), `${tag} codes`).toEqual(Array.from(codes));
        expect(sc.shape, `${tag} scales shape`).toEqual([...ref.scaleShape]);
        expect(Array.from(sc.bytes), `${tag} scales`).toEqual(Array.from(u8(ref.scales)));
        if (ref.tensorScale)
          expect(f32(ts)[2], `${tag} weight_scale_2`).toBe(ref.tensorScale.decode);
      });
      const given = [
        { data: codes, dtype: "uint8", shape: packedShape },
        { data: u8(ref.scales), dtype: "uint8", shape: [...ref.scaleShape] },
        ...(ref.tensorScale
          ? [
              x32(
                Float32Array.of(
                  ref.tensorScale.amax,
                  ref.tensorScale.encode,
                  ref.tensorScale.decode,
                ),
                [3],
              ),
            ]
          : []),
      ];
      // odd rows pack into a flat array: the shape comes as an argument
      const shapeArg = c.cols % 2 === 0 ? {} : { shape };
      expect_(
        `${tag} dequantize`,
        `dequantize_${prefix}`,
        given,
        (r) => {
          const [y] = outputsOf(r, tag);
          expect(y.shape).toEqual(shape);
          expect(outBits(y), `${tag} dequantize`).toEqual(bits(dequantize(ref)));
        },
        shapeArg,
      );
      expect_(`${tag} qdq`, `qdq_${prefix}`, [x32(c.data, shape)], (r) => {
        expect(outBits(outputsOf(r, tag)[0]), `${tag} qdq`).toEqual(bits(qdq(s, t)));
      });
      if (gemvToo) {
        const xv = Float32Array.from({ length: c.cols }, (_, i) => Math.cos(i) * 3);
        expect_(
          `${tag} gemv`,
          `gemv_${prefix}`,
          [...given, x32(xv, [c.cols])],
          (r) => {
            expect(outBits(outputsOf(r, tag)[0]), `${tag} gemv`).toEqual(bits(gemv(ref, xv)));
          },
          shapeArg,
        );
      }
    }
  }

  beforeAll(async () => {
    writeFileSync(join(dir, "kernels.qs"), QS);
    let out = "";
    let err = "";
    const code = await main(
      ["compile", join(dir, "kernels.qs"), "--target", "cuda", "--emit", "torch", "--out", pkg],
      { stdout: (t) => void (out += t), stderr: (t) => void (err += t) },
    );
    cli = { code, out, err };
    if (code !== 0) return;
    const build = promisify(execFile)(PYTHON, ["setup.py", "build_ext", "--inplace"], {
      cwd: pkg,
      env: { ...process.env, QKC_TORCH_DEVICE: "cpu", MAX_JOBS: "2" },
      maxBuffer: 1 << 26,
    });
    writeEveryScheme(join(dir, "stdlib"));
    cudaBinding = cuda
      ? compileCudaBinding(join(dir, "stdlib"), join(dir, "shim")).then(
          () => "",
          (e: { stderr?: string }) => e.stderr ?? String(e),
        )
      : undefined;

    const mx = byName("mxfp4");
    const nv = byName("nvfp4");
    queueScheme(mx, "mxfp4", true);
    queueScheme(nv, "nvfp4", true);
    for (const c of cases) {
      const shape = [c.rows, c.cols];
      const t: Tensor = { dtype: "f32", shape, data: c.data };
      const tag = c.name;
      const gy = Float32Array.from(c.data, (_, i) => i - 7.5);
      expect_(
        `${tag} mxfp4 backward`,
        "qdq_backward_mxfp4",
        [x32(c.data, shape), x32(gy, shape)],
        (r) => {
          expect(outBits(outputsOf(r, tag)[0])).toEqual(bits(qdqBackward(mx, t, gy)));
        },
      );
      expected.push({
        name: `${tag} mxfp4 autograd`,
        call: calls.add("qdq_mxfp4", [x32(c.data, shape)], {}, x32(gy, shape)),
        check: (r) => expect(outBits(outputsOf(r, tag)[0])).toEqual(bits(qdqBackward(mx, t, gy))),
      });
      const sr = scheme({
        ...mx,
        name: "mxfp4_sr",
        rounding: { mode: "stochastic", randomBits: 8 },
      });
      expect_(
        `${tag} mxfp4 stochastic`,
        "qdq_mxfp4_sr",
        [x32(c.data, shape)],
        (r) => {
          expect(outBits(outputsOf(r, tag)[0])).toEqual(bits(qdq(sr, t, { seed: 2 ** 40 + 77 })));
        },
        { seed: 2 ** 40 + 77 },
      );
      const bf = Uint16Array.from(new Uint32Array(c.data.buffer), (w) => w >>> 16);
      const tb: Tensor = { dtype: "bf16", shape, data: bf };
      expect_(
        `${tag} nvfp4 bf16`,
        "qdq_nvfp4_bf16",
        [{ data: bf, dtype: "bfloat16", shape }],
        (r) => {
          expect(outBits(outputsOf(r, tag)[0])).toEqual(bits(qdq(nv, tb)));
        },
      );
      const tile = scheme({
        ...nv,
        name: "nvfp4_tile16",
        block: { kind: "tile", rows: 16, cols: 16 },
      });
      const rt = quantize(tile, t);
      expect_(`${tag} tile 16x16`, "quantize_nvfp4_tile16", [x32(c.data, shape)], (r) => {
        const [, sc] = outputsOf(r, tag);
        expect(sc.shape).toEqual([...rt.scaleShape]);
        expect(Array.from(sc.bytes)).toEqual(Array.from(u8(rt.scales)));
      });
      if (c.cols % 32 === 0) {
        const rotation = { kind: "hadamard" as const, size: 32, seed: 5 };
        const xr = rotate(c.data, shape, rotation);
        expect_(`${tag} rotated qdq`, "qdq_mxfp4_rot", [x32(c.data, shape)], (r) => {
          expect(outBits(outputsOf(r, tag)[0])).toEqual(
            bits(qdq(mx, { dtype: "f32", shape, data: xr })),
          );
        });
      }
      // double quantization: the host step between kernels (mean of the scales) included
      const dq = byName("nf4_dq");
      const rd = quantize(dq, t);
      expect_(`${tag} nf4_dq quantize`, "quantize_nf4_dq", [x32(c.data, shape)], (r) => {
        const o = outputsOf(r, tag);
        expect(r.fields).toEqual(["codes", "scales", "dq_offset", "dq_codes", "dq_scales"]);
        expect(f32(o[2])[0]).toBe(rd.doubleQuant!.offset);
        expect(Array.from(o[3].bytes)).toEqual(Array.from(rd.doubleQuant!.scales.codes));
      });
      expect_(`${tag} nf4_dq qdq`, "qdq_nf4_dq", [x32(c.data, shape)], (r) => {
        expect(outBits(outputsOf(r, tag)[0])).toEqual(bits(qdq(dq, t)));
      });
      // INT4 with FP16 scales and zero points: float16 and uint8 tensors
      const a4 = byName("int4_g128_asym");
      const r4 = quantize(a4, t);
      const c4 = packNibbles(Uint8Array.from(r4.codes), "low_first");
      const s4 = new Uint16Array(Uint16Array.from(r4.scales).buffer);
      expect_(`${tag} int4 quantize`, "quantize_int4", [x32(c.data, shape)], (r) => {
        const [q, sc, z] = outputsOf(r, tag);
        expect(sc.dtype).toBe("float16");
        expect(Array.from(q.bytes)).toEqual(Array.from(c4));
        expect(Array.from(sc.bytes)).toEqual(Array.from(u8(s4)));
        expect(Array.from(z.bytes)).toEqual(Array.from(r4.zeros!));
      });
      const shapeArg = c.cols % 2 === 0 ? {} : { shape };
      expect_(
        `${tag} int4 dequantize`,
        "dequantize_int4",
        [
          {
            data: c4,
            dtype: "uint8",
            shape: c.cols % 2 === 0 ? [c.rows, c.cols / 2] : [c4.length],
          },
          { data: s4, dtype: "float16", shape: [...r4.scaleShape] },
          { data: Uint8Array.from(r4.zeros!), dtype: "uint8", shape: [...r4.scaleShape] },
        ],
        (r) => {
          expect(outBits(outputsOf(r, tag)[0])).toEqual(bits(dequantize(r4)));
        },
        shapeArg,
      );
    }
    // bad arguments: one line naming the argument and the fix
    const x = Float32Array.from({ length: 64 }, (_, i) => i / 7);
    const errors: [string, Arg[], string][] = [
      [
        "quantize_mxfp4",
        [{ data: new Uint8Array(64), dtype: "uint8", shape: [2, 32] }],
        "quantize_mxfp4: x must be torch.float32, got torch.uint8",
      ],
      [
        "quantize_mxfp4",
        [{ ...x32(x, [32, 2]), transpose: true }],
        "quantize_mxfp4: x must be contiguous; pass x.contiguous()",
      ],
      [
        "dequantize_mxfp4",
        [
          { data: new Uint8Array(32), dtype: "uint8", shape: [2, 16] },
          { data: new Uint8Array(4), dtype: "uint8", shape: [2, 2] },
        ],
        "dequantize_mxfp4: scales has shape [2, 2], expected [2, 1] for a tensor of shape [2, 32]",
      ],
      [
        "gemv_nvfp4",
        [
          { data: new Uint8Array(32), dtype: "uint8", shape: [2, 16] },
          { data: new Uint8Array(4), dtype: "uint8", shape: [2, 2] },
          x32(new Float32Array(3), [3]),
          x32(x.subarray(0, 31), [31]),
        ],
        "gemv_nvfp4: x has shape [31], expected [32] for weights of shape [2, 32]",
      ],
      [
        "gemv_nvfp4",
        [
          { data: new Uint8Array(32), dtype: "uint8", shape: [1, 2, 16] },
          { data: new Uint8Array(4), dtype: "uint8", shape: [1, 2, 2] },
          x32(new Float32Array(3), [3]),
          x32(x.subarray(0, 32), [32]),
        ],
        "gemv_nvfp4: the weights must be 2-D [N, K], got shape [1, 2, 32]",
      ],
      [
        "qdq_mxfp4_rot",
        [x32(x.subarray(0, 48), [3, 16])],
        "qdq_mxfp4_rot: the last axis has 16 elements, not a multiple of the Hadamard size 32",
      ],
    ];
    for (const [fn, args, message] of errors)
      expected.push({
        name: message,
        error: true,
        call: calls.add(fn, args),
        check: (r) => expect(r.error).toBe(message),
      });
    await build;
    device = await calls.run();
  }, 400_000);

  it("writes the extension next to the kernels, named after the source, with its functions in the manifest", () => {
    expect(cli.code, cli.err).toBe(0);
    expect(cli.out).toContain(
      "torch_binding.cpp, kernels_cpu.cpp, setup.py, qkc_kernels/__init__.py, README.md",
    );
    const m = JSON.parse(readFileSync(join(pkg, "manifest.json"), "utf8"));
    expect(m.torch.package).toBe("qkc_kernels");
    const q = m.torch.functions.find((f: { name: string }) => f.name === "quantize_nvfp4");
    expect(q.args).toEqual([{ name: "x", dtype: "float32", shape: "[..., K]" }]);
    expect(q.returns).toEqual([
      { name: "codes", dtype: "uint8", shape: "[..., K/2]", format: "e2m1" },
      { name: "scales", dtype: "float8_e4m3fn", shape: "[..., ceil(K/16)]", format: "e4m3" },
      { name: "tscale", dtype: "float32", shape: "[3]" },
    ]);
    const readme = readFileSync(join(pkg, "README.md"), "utf8");
    expect(readme).toContain("QKC_TORCH_DEVICE=cpu python setup.py build_ext --inplace");
  });

  it("runs on CPU tensors (the build without CUDA)", () => expect(device).toBe("cpu"));

  it.skipIf(!cuda)(
    "the CUDA build's binding of every built-in scheme compiles against PyTorch's and the CUDA toolkit's headers, without warnings",
    async () => expect(await cudaBinding).toBe(""),
  );

  it("mxfp4, nvfp4, nf4_dq and int4_g128_asym: every result bit-exact with the interpreter", () => {
    expect(calls.results.length).toBe(expected.length);
    for (const e of expected) if (!e.error) e.check(calls.results[e.call]);
  });

  it("refuses bad arguments with one line naming the argument and the fix", () => {
    for (const e of expected) if (e.error) e.check(calls.results[e.call]);
  });

  it("--emit torch is refused without --target cuda", async () => {
    let err = "";
    const code = await main(
      ["compile", "mxfp4", "--target", "wasm", "--emit", "torch", "--out", join(dir, "w")],
      {
        stdout: () => {},
        stderr: (t) => void (err += t),
      },
    );
    expect(code).toBe(1);
    expect(err).toContain("--emit torch is for --target cuda; add --target cuda");
  });
});

describe("--emit torch layouts (no PyTorch needed)", () => {
  const dtypes = (name: string, kind: "quantize" | "gemv") => {
    const spec = defaultKernels(byName(name)).find((k) => k.kind === kind)!;
    return Object.fromEntries(torchTensors(compile(spec).plan).map((t) => [t.name, t.dtype]));
  };

  it("gives each buffer the dtype of the format it holds (SEMANTICS.md section 5)", () => {
    expect(dtypes("nvfp4", "quantize")).toMatchObject({
      codes: "uint8",
      scales: "float8_e4m3fn",
      tscale: "float32",
    });
    expect(dtypes("mxfp4", "quantize")).toMatchObject({ codes: "uint8", scales: "uint8" });
    expect(dtypes("mxfp8_e4m3", "quantize")).toMatchObject({ codes: "float8_e4m3fn" });
    expect(dtypes("mxfp8_e5m2", "quantize")).toMatchObject({ codes: "float8_e5m2" });
    expect(dtypes("mxint8", "quantize")).toMatchObject({ codes: "int8" });
    expect(dtypes("int4_g128_asym", "quantize")).toMatchObject({
      scales: "float16",
      zeros: "uint8",
    });
    expect(dtypes("nf4", "gemv")).toMatchObject({
      codes: "uint8",
      scales: "float32",
      x: "float32",
    });
  });

  it("names the package after the source", () => {
    expect(packageName("nvfp4")).toBe("qkc_nvfp4");
    expect(packageName("./dir/My-fp4.qs")).toBe("qkc_my_fp4");
  });

  it("emits a function for every kernel of every built-in scheme", () => {
    const specs = BUILTIN_SCHEMES.flatMap(defaultKernels);
    const { artifact, plans } = emitCudaPlans(specs.map((sp) => compile(sp).plan));
    const ext = emitTorch(plans, artifact, { source: "stdlib", arch: "sm_90a", title: "stdlib" });
    const binding = ext.files.get("torch_binding.cpp")!;
    for (const sp of specs) expect(binding).toContain(`m.def("${sp.name}", &qkc_ops::${sp.name},`);
  });
});
