/**
 * The C++ of `--emit torch`: one function on tensors per compiled plan
 * (quantize_mxfp4(x) -> codes, scales, ...), bound to Python with pybind11.
 * Each function checks its inputs (device, dtype, contiguity, shape), works
 * out the tensor geometry, allocates outputs and temporaries in the layouts
 * of torch-layout.ts and runs the plan's steps: the extern "C" launchers of
 * kernels.h on the current stream, and the host work between them. The same
 * file builds for CUDA tensors (nvcc, real cuda_runtime.h) or, with
 * QKC_TORCH_CPU, for CPU tensors against qkc's CUDA execution layer.
 */
import type { Param } from "../../ir/kernel.js";
import type { BlockShape } from "../../ir/scheme.js";
import type { KernelStep, Plan } from "../../passes/lower.js";
import { formatBits } from "../../ir/formats/index.js";
import { ELEM } from "../c/emit.js";
import type { CudaArtifact } from "./emit.js";
import { acceptsBytes, torchTensors, type TorchDtype, type TorchTensor } from "./torch-layout.js";

/** A plan as a Python function: its tensor arguments, results and optional arguments. */
export interface TorchFunction {
  readonly name: string;
  readonly kind: Plan["spec"]["kind"];
  readonly scheme: string;
  readonly inputs: readonly TorchTensor[];
  readonly outputs: readonly TorchTensor[];
  /** takes `seed` (stochastic rounding) */
  readonly seed: boolean;
  /** takes `shape` (the tensor's shape when it cannot be read off packed codes) */
  readonly shape: boolean;
}

const SCALAR_TYPE: Record<TorchDtype, string> = {
  float32: "at::kFloat",
  float16: "at::kHalf",
  bfloat16: "at::kBFloat16",
  float8_e4m3fn: "qkc_torch::kFloat8_e4m3fn",
  float8_e5m2: "qkc_torch::kFloat8_e5m2",
  uint8: "at::kByte",
  int8: "at::kChar",
  int16: "at::kShort",
  int32: "at::kInt",
};

const dtypesText = (t: TorchTensor) =>
  `torch.${t.dtype}${acceptsBytes(t) ? " (or its bytes as torch.uint8)" : ""}`;

/** The arguments in Python order: the tensor the shape comes from first. */
function argumentOrder(plan: Plan, inputs: TorchTensor[]): TorchTensor[] {
  const lead = plan.spec.kind === "gemv" || !inputs.some((t) => t.name === "x") ? "codes" : "x";
  return [...inputs.filter((t) => t.name === lead), ...inputs.filter((t) => t.name !== lead)];
}

export function torchFunction(plan: Plan): TorchFunction {
  const tensors = torchTensors(plan);
  const inputs = argumentOrder(
    plan,
    tensors.filter((t) => t.role === "input"),
  );
  const seed = plan.kernels.some((k) => k.params.some((p) => p.name === "seed_lo"));
  const outputs = tensors.filter((t) => t.role === "output");
  return {
    name: plan.spec.name,
    kind: plan.spec.kind,
    scheme: plan.spec.scheme.name,
    inputs,
    // codes first, as a checkpoint lists weight before weight_scale
    outputs: [
      ...outputs.filter((t) => t.name === "codes"),
      ...outputs.filter((t) => t.name !== "codes"),
    ],
    seed,
    shape: inputs[0].length === "packed",
  };
}

/** C++ for the shape of a buffer, given `shape` (the tensor's) and `grid` (its block grid). */
function shapeExpr(plan: Plan, t: TorchTensor): string {
  switch (t.length) {
    case "elements":
      return "shape";
    case "packed":
      return `qkc_torch::packed_shape(shape, ${codeBits(plan)})`;
    case "blocks":
      return "grid";
    case "nested_blocks":
      return "{qkc_torch::numel(nested_grid)}";
    case "blocks_128x4":
      return "{(grid[0] + 127) / 128 * 128, (grid[1] + 3) / 4 * 4}";
    case "tscale":
      return "{3}";
    case "one":
      return "{1}";
    case "rows":
      return "{shape[0]}";
    case "columns":
      return "{shape[1]}";
  }
}

const codeBits = (plan: Plan) =>
  plan.codeLayout.kind === "unpacked" ? 8 : formatBits(plan.spec.scheme.element);

const gridExpr = (b: BlockShape, shape: string): string =>
  b.kind === "tile"
    ? `qkc_torch::tile_grid(${shape}, ${b.rows}, ${b.cols})`
    : `qkc_torch::axis_grid(${shape}, ${b.axis}, ${b.size === "all" ? 0 : b.size})`;

const geometryExpr = (b: BlockShape, shape: string): string =>
  b.kind === "tile"
    ? `qkc_torch::tile_geometry(${shape})`
    : `qkc_torch::axis_geometry(${shape}, ${b.axis})`;

/** The value of each scalar a step's kernel takes, by name (C++ expressions). */
function stepScalars(plan: Plan, step: KernelStep): Record<string, string> {
  const seeds = { seed_lo: "(uint32_t)seed", seed_hi: "(uint32_t)(seed >> 32)" };
  const fromGeometry = (g: string, b: BlockShape): Record<string, string> =>
    b.kind === "tile"
      ? { outer: `${g}.a`, R: `${g}.b`, C: `${g}.c` }
      : { outer: `${g}.a`, n: `${g}.b`, inner: `${g}.c` };
  const nested = plan.spec.scheme.doubleQuant?.scheme.block;
  switch (step.scalars) {
    case "geometry":
      return { ...fromGeometry("geometry", plan.spec.scheme.block), ...seeds };
    case "count":
      return { n: "count" };
    case "matrix":
      return { N: "shape[0]", K: "shape[1]" };
    case "blocks":
      return { n: "blocks" };
    case "nested":
      return { ...fromGeometry("nested_geometry", nested!), ...seeds };
  }
}

function scalarArg(fn: string, p: Param & { kind: "scalar" }, values: Record<string, string>) {
  const v = values[p.name];
  if (v === undefined) throw new Error(`${fn}: no value for the kernel scalar ${p.name}`);
  return p.type === "i32"
    ? `qkc_torch::i32(fn, ${v})`
    : `(${p.type === "u32" ? "uint32_t" : "float"})(${v})`;
}

/** `head(args...)` + `tail`; past 110 columns the arguments go on lines of their own, indented 4 more. */
function call(head: string, args: readonly string[], tail: string): string {
  const line = `${head}(${args.join(", ")})${tail}`;
  if (line.length <= 110) return line;
  const pad = " ".repeat(head.length - head.trimStart().length + 4);
  const lines = [`${pad}${args[0]}`];
  for (const a of args.slice(1)) {
    const last = lines[lines.length - 1];
    if (last.length + a.length + 2 <= 110) lines[lines.length - 1] = `${last}, ${a}`;
    else {
      lines[lines.length - 1] += ",";
      lines.push(`${pad}${a}`);
    }
  }
  return `${head}(\n${lines.join("\n")})${tail}`;
}

/** The C++ function of one plan. */
function printFunction(plan: Plan, f: TorchFunction, artifact: CudaArtifact): string {
  const all = torchTensors(plan);
  const lead = f.inputs[0];
  const results =
    f.outputs.length === 1
      ? "at::Tensor"
      : `std::tuple<${f.outputs.map(() => "at::Tensor").join(", ")}>`;
  const args = [
    ...f.inputs.map((t) => `const at::Tensor& ${t.name}`),
    ...(f.shape ? ["const std::optional<std::vector<int64_t>>& shape_arg"] : []),
    ...(f.seed ? ["int64_t seed"] : []),
  ];
  const o: string[] = [];
  const scheme = plan.kernels
    .flatMap((k) => k.body.flatMap((st) => (st.op === "comment" ? [st.text] : [])))
    .find((t) => t.includes(plan.spec.scheme.name));
  const comment = [...(scheme ? [`${scheme}.`] : []), ...docstring(plan, f).split("\n")];
  o.push(`/* ${comment.join("\n * ").replace(/\*\//g, "* /")} */`);
  o.push(call(`${results} ${f.name}`, args, " {"), `  const char* fn = "${f.name}";`);
  o.push(`  qkc_torch::check(fn, "${lead.name}", ${lead.name}, ${lead.name}, ${checkArgs(lead)});`);
  // the tensor's shape: read off x, or off the codes (their shape or the `shape` argument)
  if (lead.length === "packed")
    o.push(
      `  const qkc_torch::Shape shape = shape_arg ? *shape_arg : qkc_torch::unpacked_shape(fn, ${lead.name}, ${codeBits(plan)});`,
    );
  else o.push(`  const qkc_torch::Shape shape = ${lead.name}.sizes().vec();`);
  const layout = plan.scaleLayout ?? "plain";
  if (plan.spec.kind === "gemv")
    o.push(`  qkc_torch::check_matrix(fn, shape, "the weights must be 2-D [N, K], got shape ");`);
  else if (layout !== "plain")
    // worded like the host runner's refusal of such a tensor (backends/host.ts)
    o.push(
      `  qkc_torch::check_matrix(fn, shape, "${layout} scales need a 2-D tensor [rows, K]; the tensor has shape ", " (reshape it to 2-D, or use scale layout plain)");`,
    );
  const block = plan.spec.scheme.block;
  if (block.kind === "axis") o.push(`  qkc_torch::check_axis(fn, shape, ${block.axis});`);
  if (plan.spec.rotate) o.push(`  qkc_torch::check_rotation(fn, shape, ${plan.spec.rotate.size});`);
  o.push(
    `  const int64_t count = qkc_torch::numel(shape);`,
    `  (void)qkc_torch::i32(fn, count);`,
    `  const qkc_torch::Shape grid = ${gridExpr(block, "shape")};`,
    `  [[maybe_unused]] const int64_t blocks = qkc_torch::numel(grid);`,
    `  [[maybe_unused]] const qkc_torch::Geometry geometry = ${geometryExpr(block, "shape")};`,
  );
  const nested = plan.spec.scheme.doubleQuant?.scheme.block;
  if (nested)
    o.push(
      `  const qkc_torch::Shape blocks_shape{blocks};`,
      `  const qkc_torch::Shape nested_grid = ${gridExpr(nested, "blocks_shape")};`,
      `  [[maybe_unused]] const qkc_torch::Geometry nested_geometry = ${geometryExpr(nested, "blocks_shape")};`,
    );
  const checkShape = (t: TorchTensor) => {
    const want = shapeExpr(plan, t);
    return `  qkc_torch::check_shape(fn, "${t.name}", ${t.name}, ${want.startsWith("{") ? `qkc_torch::Shape${want}` : want}, shape${plan.spec.kind === "gemv" ? ", true" : ""});`;
  };
  if (lead.length === "packed") o.push(checkShape(lead));
  for (const t of f.inputs.slice(1))
    o.push(
      `  qkc_torch::check(fn, "${t.name}", ${t.name}, ${lead.name}, ${checkArgs(t)});`,
      checkShape(t),
    );
  o.push(
    `  QKC_TORCH_GUARD(${lead.name});`,
    `  const at::TensorOptions options = ${lead.name}.options();`,
  );
  for (const t of all)
    if (t.role !== "input")
      o.push(
        `  at::Tensor ${t.name} = at::empty(${shapeExpr(plan, t)}, options.dtype(${SCALAR_TYPE[t.dtype]}));${t.role === "temp" ? " /* temporary */" : ""}`,
      );
  const kernels = new Map(artifact.kernels.map((k) => [k.name, k]));
  const workspace = Math.max(0, ...plan.kernels.map((k) => kernels.get(k.name)!.workspaceBytes));
  if (workspace)
    o.push(`  at::Tensor workspace = at::empty({${workspace}}, options.dtype(at::kByte));`);
  o.push(`  const cudaStream_t stream = QKC_TORCH_STREAM;`);
  for (const step of plan.steps) {
    if ("host" in step) {
      o.push(
        `  /* host: the offset of double quantization, the mean of the finite block scales */`,
        `  ${step.to}.fill_(${step.mode === "mean" ? `qkc_torch::finite_mean(${step.from})` : "0.0f"});`,
      );
      continue;
    }
    const info = kernels.get(step.kernel)!;
    const values = stepScalars(plan, step);
    const callArgs = info.params.map((p) => {
      if (p.kind === "scalar") return scalarArg(f.name, p, values);
      const buf = step.bind[p.name];
      return `qkc_torch::${p.access === "read" ? "in" : "out"}<${ELEM[p.elem]}>(${buf})`;
    });
    if (info.workspaceBytes) callArgs.push("qkc_torch::out<uint32_t>(workspace)");
    callArgs.push("stream");
    o.push(
      call(`  qkc_torch::launched(fn, "${info.launcher}", ::${info.launcher}`, callArgs, ");"),
    );
  }
  o.push(
    f.outputs.length === 1
      ? `  return ${f.outputs[0].name};`
      : `  return {${f.outputs.map((t) => t.name).join(", ")}};`,
    `}`,
  );
  return o.join("\n");
}

function checkArgs(t: TorchTensor): string {
  const types = [SCALAR_TYPE[t.dtype], ...(acceptsBytes(t) ? ["at::kByte"] : [])];
  return `{${types.join(", ")}}, "${dtypesText(t)}"`;
}

/** The docstring of a function: what it computes, its arguments and results with dtypes and shapes. */
export function docstring(plan: Plan, f: TorchFunction): string {
  const rot = plan.spec.rotate
    ? ` after a Hadamard rotation of size ${plan.spec.rotate.size} along the last axis`
    : "";
  const s = f.scheme;
  const what = {
    quantize: `Quantizes x with ${s}${rot}`,
    dequantize: `Dequantizes ${s} codes and scales to float32`,
    qdq: `Fake-quantizes x with ${s}${rot} (quantize, then dequantize) to float32`,
    qdq_backward: `The straight-through gradient of qdq with ${s}: gy where x was not clipped, else 0`,
    gemv: `y = W x, the weights W quantized with ${s}`,
  }[f.kind];
  const line = (t: TorchTensor) =>
    `  ${t.name}: ${dtypesText(t)} ${t.shapeText}${t.format ? ` (${t.format} codes)` : t.note ? `: ${t.note}` : ""}`;
  return [
    `${what}; bit-exact with qkc's interpreter.`,
    `Arguments (contiguous, on the extension's device):`,
    ...f.inputs.map(line),
    ...(f.shape
      ? ["  shape: the tensor's shape, when the codes' shape does not give it (odd last axis)"]
      : []),
    ...(f.seed ? ["  seed: the Philox seed of stochastic rounding (0 if not given)"] : []),
    `Returns${f.outputs.length > 1 ? " (in this order)" : ""}:`,
    ...f.outputs.map(line),
  ].join("\n");
}

const cString = (s: string) => JSON.stringify(s);

/** torch_binding.cpp for the plans of one artifact. */
export function printBinding(
  plans: readonly Plan[],
  artifact: CudaArtifact,
  opts: { title: string; header?: string },
): string {
  const fns = plans.map((p) => ({ plan: p, f: torchFunction(p) }));
  const defs = fns.map(({ plan, f }) => {
    const args = [
      ...f.inputs.map((t) => `py::arg("${t.name}")`),
      ...(f.shape ? [`py::arg("shape") = py::none()`] : []),
      ...(f.seed ? [`py::arg("seed") = 0`] : []),
    ];
    return `  m.def("${f.name}", &qkc_ops::${f.name}, ${cString(docstring(plan, f))},\n        ${args.join(", ")});`;
  });
  return [
    `/* ${opts.title}: PyTorch binding generated by qkc; edit the .qs source, not this file.`,
    ` * Built by setup.py for CUDA tensors (nvcc), or with QKC_TORCH_CPU for CPU tensors, the kernels`,
    ` * then running on qkc's CUDA execution layer (emulator/). */`,
    prelude(opts.header ?? "kernels.h"),
    `/* the functions on tensors, one per kernel request (the launchers of ${opts.header ?? "kernels.h"} keep their names) */`,
    `namespace qkc_ops {`,
    ``,
    ...fns.map(({ plan, f }) => printFunction(plan, f, artifact) + "\n"),
    `}  // namespace qkc_ops`,
    ``,
    `PYBIND11_MODULE(TORCH_EXTENSION_NAME, m) {`,
    `  m.doc() = ${cString(`${opts.title} (qkc)`)};`,
    `  m.attr("device") = QKC_TORCH_DEVICE_NAME;`,
    ...defs,
    `}`,
    ``,
  ].join("\n");
}

/** Helpers shared by every generated function (the same text in every binding). */
const prelude = (
  header: string,
) => String.raw`/* ATen and torch's pybind11 casters: half the compile time of <torch/extension.h> */
#include <ATen/ATen.h>
#include <torch/csrc/utils/pybind.h>
#include <torch/version.h>

#include <cmath>
#include <cstdint>
#include <optional>
#include <sstream>
#include <string>
#include <vector>

#ifdef QKC_TORCH_CPU
#define QKC_TORCH_DEVICE_NAME "cpu"
#define QKC_TORCH_STREAM nullptr
#define QKC_TORCH_GUARD(t) (void)(t)
#else
#include <c10/cuda/CUDAGuard.h>
#include <c10/cuda/CUDAStream.h>
#define QKC_TORCH_DEVICE_NAME "cuda"
#define QKC_TORCH_STREAM c10::cuda::getCurrentCUDAStream().stream()
#define QKC_TORCH_GUARD(t) const c10::cuda::CUDAGuard qkc_guard((t).device())
#endif

#include "${header}"

namespace qkc_torch {

/* float8 dtypes exist from torch 2.1; before, such tensors are their bytes (uint8) */
#if TORCH_VERSION_MAJOR > 2 || (TORCH_VERSION_MAJOR == 2 && TORCH_VERSION_MINOR >= 1)
constexpr at::ScalarType kFloat8_e4m3fn = at::ScalarType::Float8_e4m3fn;
constexpr at::ScalarType kFloat8_e5m2 = at::ScalarType::Float8_e5m2;
#else
constexpr at::ScalarType kFloat8_e4m3fn = at::kByte;
constexpr at::ScalarType kFloat8_e5m2 = at::kByte;
#endif

using Shape = std::vector<int64_t>;

inline std::string text(const Shape& s) {
  std::ostringstream o;
  o << "[";
  for (size_t i = 0; i < s.size(); i++) o << (i ? ", " : "") << s[i];
  o << "]";
  return o.str();
}

inline int64_t numel(const Shape& s) {
  int64_t n = 1;
  for (int64_t d : s) n *= d;
  return n;
}

/* The kernels take 32-bit sizes (their indices are 64-bit where needed). */
inline int32_t i32(const char* fn, int64_t v) {
  TORCH_CHECK(v >= 0 && v <= INT32_MAX, fn, ": a size of ", v,
              " does not fit the kernels' 32-bit sizes; split the tensor (at most 2^31 - 1 elements)");
  return (int32_t)v;
}

inline std::string dtype_name(at::ScalarType t) {
  switch (t) {
    case at::kFloat: return "torch.float32";
    case at::kDouble: return "torch.float64";
    case at::kHalf: return "torch.float16";
    case at::kBFloat16: return "torch.bfloat16";
    case at::kByte: return "torch.uint8";
    case at::kChar: return "torch.int8";
    case at::kShort: return "torch.int16";
    case at::kInt: return "torch.int32";
    case at::kLong: return "torch.int64";
    case at::kBool: return "torch.bool";
    default: return c10::toString(t);
  }
}

/* Device, dtype and contiguity of an argument; one line naming the fix. */
inline void check(const char* fn, const char* arg, const at::Tensor& t, const at::Tensor& first,
                  std::initializer_list<at::ScalarType> dtypes, const char* want) {
  TORCH_CHECK(t.defined(), fn, ": ", arg, " is not a tensor");
#ifdef QKC_TORCH_CPU
  TORCH_CHECK(t.device().is_cpu(), fn, ": ", arg, " is a ", t.device(),
              " tensor, but this build of the extension runs on CPU tensors (QKC_TORCH_DEVICE=cpu); pass ",
              arg, ".cpu() or rebuild it for CUDA");
#else
  TORCH_CHECK(t.is_cuda(), fn, ": ", arg, " is a ", t.device(), " tensor; the kernels run on CUDA tensors: pass ",
              arg, ".cuda()");
#endif
  TORCH_CHECK(t.device() == first.device(), fn, ": ", arg, " is on ", t.device(), " but the first argument on ",
              first.device(), "; put every tensor of the call on one device");
  bool ok = false;
  for (at::ScalarType d : dtypes) ok = ok || t.scalar_type() == d;
  TORCH_CHECK(ok, fn, ": ", arg, " must be ", want, ", got ", dtype_name(t.scalar_type()));
  TORCH_CHECK(t.is_contiguous(), fn, ": ", arg, " must be contiguous; pass ", arg, ".contiguous()");
}

/* of: the shape of the tensor quantized (with weights: of the matrix, for gemv) */
inline void check_shape(const char* fn, const char* arg, const at::Tensor& t, const Shape& want, const Shape& of,
                        bool weights = false) {
  TORCH_CHECK(t.sizes().vec() == want, fn, ": ", arg, " has shape ", text(t.sizes().vec()), ", expected ", text(want),
              weights ? " for weights of shape " : " for a tensor of shape ", text(of));
}

/* The tensor's shape from its packed codes [..., last]: last * 8 / bits elements along the last axis. */
inline Shape unpacked_shape(const char* fn, const at::Tensor& codes, int bits) {
  Shape s = codes.sizes().vec();
  TORCH_CHECK(!s.empty() && (s.back() * 8) % bits == 0, fn, ": cannot read the tensor's shape off codes of shape ",
              text(s), "; pass shape=[...]");
  s.back() = s.back() * 8 / bits;
  return s;
}

/* Packed codes keep the leading axes when a row packs into whole bytes, else they are flat. */
inline Shape packed_shape(const Shape& shape, int bits) {
  const int64_t last = shape.empty() ? 1 : shape.back();
  if (!shape.empty() && (last * bits) % 8 == 0) {
    Shape s = shape;
    s.back() = last * bits / 8;
    return s;
  }
  return {(numel(shape) * bits + 7) / 8};
}

/* Block geometry scalars: outer, n, inner (blocks along an axis) or outer, R, C (tiles). */
struct Geometry {
  int64_t a, b, c;
};

inline Shape dims_of(const Shape& shape) { return shape.empty() ? Shape{1} : shape; }

inline int64_t axis_of(const Shape& dims, int axis) { return axis < 0 ? (int64_t)dims.size() + axis : axis; }

inline void check_axis(const char* fn, const Shape& shape, int axis) {
  const int64_t a = axis_of(dims_of(shape), axis);
  TORCH_CHECK(a >= 0 && a < (int64_t)dims_of(shape).size(), fn, ": the scheme's blocks run along axis ", axis,
              ", which a tensor of shape ", text(shape), " does not have");
}

/* A 2-D shape, else the error "fn: <before><shape><after>" (what must be 2-D differs by kernel kind). */
inline void check_matrix(const char* fn, const Shape& shape, const char* before, const char* after = "") {
  TORCH_CHECK(shape.size() == 2, fn, ": ", before, text(shape), after);
}

inline void check_rotation(const char* fn, const Shape& shape, int64_t size) {
  const int64_t last = shape.empty() ? 1 : shape.back();
  TORCH_CHECK(last % size == 0, fn, ": the last axis has ", last, " elements, not a multiple of the Hadamard size ",
              size);
}

inline Geometry axis_geometry(const Shape& shape, int axis) {
  const Shape d = dims_of(shape);
  const int64_t a = axis_of(d, axis);
  Geometry g{1, d[a], 1};
  for (int64_t i = 0; i < a; i++) g.a *= d[i];
  for (size_t i = a + 1; i < d.size(); i++) g.c *= d[i];
  return g;
}

/* The scales' shape: the tensor's, with the block axis counted in blocks (size 0: one block per line). */
inline Shape axis_grid(const Shape& shape, int axis, int64_t size) {
  Shape d = dims_of(shape);
  const int64_t a = axis_of(d, axis);
  const int64_t bsize = size ? size : std::max<int64_t>(d[a], 1);
  d[a] = (d[a] + bsize - 1) / bsize;
  return d;
}

inline Shape tile_dims(const Shape& shape) {
  const Shape d = dims_of(shape);
  return d.size() == 1 ? Shape{1, d[0]} : d;
}

inline Geometry tile_geometry(const Shape& shape) {
  const Shape d = tile_dims(shape);
  Geometry g{1, d[d.size() - 2], d.back()};
  for (size_t i = 0; i + 2 < d.size(); i++) g.a *= d[i];
  return g;
}

inline Shape tile_grid(const Shape& shape, int64_t rows, int64_t cols) {
  Shape d = tile_dims(shape);
  d[d.size() - 2] = (d[d.size() - 2] + rows - 1) / rows;
  d.back() = (d.back() + cols - 1) / cols;
  return d;
}

/* fl32 of the mean of the finite values, summed in double left to right (0 if none): the host step
 * of double quantization, as qkc's interpreter computes it. */
inline float finite_mean(const at::Tensor& bits) {
  const at::Tensor v = bits.view(at::kFloat).cpu();
  const float* p = v.data_ptr<float>();
  double sum = 0;
  int64_t n = 0;
  for (int64_t i = 0; i < v.numel(); i++)
    if (std::isfinite(p[i])) sum += p[i], n++;
  return n == 0 ? 0.0f : (float)(sum / (double)n);
}

/* a tensor's data as the launchers take it: read-only or written */
template <typename T>
inline const T* in(const at::Tensor& t) {
  return static_cast<const T*>(t.data_ptr());
}
template <typename T>
inline T* out(const at::Tensor& t) {
  return static_cast<T*>(t.data_ptr());
}

inline void launched(const char* fn, const char* kernel, cudaError_t e) {
  TORCH_CHECK(e == cudaSuccess, fn, ": the kernel ", kernel, " failed to launch: ", cudaGetErrorString(e));
}

}  // namespace qkc_torch
`;
