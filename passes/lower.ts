/**
 * Pass 5: the graph to KernelIR functions and the plan that runs them: which
 * buffers exist, how long each is for a given tensor shape, and the sequence
 * of kernel calls with their bindings.
 */
import type { CodeLayout, Graph } from "../ir/graph.js";
import type { ElemType, Kernel } from "../ir/kernel.js";
import { formatBits } from "../ir/formats/index.js";
import type { KernelSpec, ScaleLayout } from "../ir/program.js";
import { elemOf, lowerKernel } from "./lower/kernels.js";
import { packKernel } from "./lower/pack.js";
import { lowerGemv } from "./lower/gemv.js";
import { lowerRotate } from "./lower/rotate.js";
import { centerKernel, restoreKernel } from "./lower/dq.js";
import { buildGraph } from "./build-graph.js";
import { fuse } from "./fuse.js";
import { layout } from "./layout.js";
import { graphScaleLayout } from "./scale-layout.js";
import { scalePadKernel } from "./lower/scale-place.js";

/**
 * How long a buffer is, given the tensor: one per element, per block, packed
 * bytes, the 3 tensor-scale floats, W's rows or columns (gemv), one value, or
 * the blocks of the nested scheme of double quantization over the scales.
 */
export type LengthRule =
  | "elements"
  | "blocks"
  | "packed"
  | "tscale"
  | "rows"
  | "columns"
  | "one"
  | "nested_blocks"
  /** the block grid of a 2-D tensor padded to 128 rows x 4 columns (scale layout nvidia_128x4) */
  | "blocks_128x4";

export interface BufferDecl {
  readonly name: string;
  readonly elem: ElemType;
  readonly role: "input" | "output" | "temp";
  readonly length: LengthRule;
}

export interface KernelStep {
  readonly kernel: string;
  /** kernel buffer param -> plan buffer */
  readonly bind: Readonly<Record<string, string>>;
  /**
   * `geometry`: block-geometry scalars (+ seed); `count`: n = number of elements;
   * `matrix`: N, K of a 2-D W; `blocks`: n = number of blocks; `nested`: the
   * geometry of double quantization's scheme over the block scales (+ seed)
   */
  readonly scalars: "geometry" | "count" | "matrix" | "blocks" | "nested";
}

/** Work done by the host between kernels: the one scalar of double quantization (ir/interpret doubleQuantOffset). */
export interface HostStep {
  readonly host: "dq_offset";
  readonly from: string;
  readonly to: string;
  readonly mode: "mean" | "none";
}

export type Step = KernelStep | HostStep;

export interface Plan {
  readonly spec: KernelSpec;
  readonly codeLayout: CodeLayout;
  /** where the scales crossing the plan's boundary sit; plain when undefined */
  readonly scaleLayout?: ScaleLayout;
  readonly kernels: readonly Kernel[];
  readonly buffers: readonly BufferDecl[];
  readonly steps: readonly Step[];
}

export function lower(g: Graph, spec: KernelSpec): Plan {
  const s = spec.scheme;
  if (s.doubleQuant) return lowerDoubleQuant(spec);
  const find = (op: string) => g.nodes.find((n) => n.op.op === op);
  const pack = find("pack");
  const unpack = find("unpack");
  const packing: CodeLayout =
    pack?.op.op === "pack"
      ? pack.op.layout
      : unpack?.op.op === "unpack"
        ? unpack.op.layout
        : { kind: "unpacked" };
  const scaleLayout = graphScaleLayout(g);
  const scaleLength: LengthRule = scaleLayout === "plain" ? "blocks" : "blocks_128x4";
  const codeElem = elemOf(formatBits(s.element));
  const scaleElem = elemOf(formatBits(s.scale.format));
  const inputElem: ElemType = spec.input === "f32" ? "f32" : "u16";
  const asym = s.scale.rule === "minmax";
  const buffers: BufferDecl[] = [];
  const steps: Step[] = [];
  const kernels: Kernel[] = [];
  const name = spec.name;

  // rotation first: the quantizing kernel reads the rotated copy
  let xName = "x";
  const readsX = g.nodes.some((n) => n.op.op === "input" && n.op.role === "x");
  if (readsX && !find("gemv"))
    buffers.push({ name: "x", elem: inputElem, role: "input", length: "elements" });
  if (spec.rotate) {
    kernels.push(lowerRotate(`${name}_rotate`, spec.rotate));
    buffers.push({ name: "xr", elem: "f32", role: "temp", length: "elements" });
    steps.push({ kernel: `${name}_rotate`, bind: { x: "x", xr: "xr" }, scalars: "count" });
    xName = "xr";
  }

  const packed = packing.kind !== "unpacked";
  /** The codes input; kernels that take it read packed bytes directly. */
  const readCodes = (): string => {
    buffers.push({
      name: "codes",
      elem: packed ? "u8" : codeElem,
      role: "input",
      length: packed ? "packed" : "elements",
    });
    return "codes";
  };
  /** Scales, zero points and the tensor scale as inputs, bound by name. */
  const readScales = (bind: Record<string, string>): void => {
    buffers.push({ name: "scales", elem: scaleElem, role: "input", length: scaleLength });
    bind.scales = "scales";
    if (asym) {
      buffers.push({ name: "zeros", elem: codeElem, role: "input", length: "blocks" });
      bind.zeros = "zeros";
    }
    if (s.tensorScale) {
      buffers.push({ name: "tscale", elem: "f32", role: "input", length: "tscale" });
      bind.tscale = "tscale";
    }
  };

  const gemvNode = find("gemv");
  if (gemvNode) {
    const codes = readCodes();
    const order = gemvNode.op.op === "gemv" ? gemvNode.op.order : "fixed";
    kernels.push(lowerGemv(name, s, spec.input, packing, scaleLayout, order));
    const bind: Record<string, string> = { codes, x: "x", y: "y" };
    readScales(bind);
    buffers.push({ name: "x", elem: inputElem, role: "input", length: "columns" });
    buffers.push({ name: "y", elem: "f32", role: "output", length: "rows" });
    steps.push({ kernel: kernels[kernels.length - 1].name, bind, scalars: "matrix" });
  } else if (find("qdq_backward")) {
    kernels.push(lowerKernel(name, "qdq_backward", s, spec.rotate ? "f32" : spec.input));
    buffers.push({ name: "gy", elem: "f32", role: "input", length: "elements" });
    buffers.push({ name: "gx", elem: "f32", role: "output", length: "elements" });
    steps.push({ kernel: name, bind: { x: xName, gy: "gy", gx: "gx" }, scalars: "geometry" });
  } else if (find("qdq")) {
    kernels.push(lowerKernel(name, "qdq", s, spec.rotate ? "f32" : spec.input));
    buffers.push({ name: "y", elem: "f32", role: "output", length: "elements" });
    steps.push({ kernel: name, bind: { x: xName, y: "y" }, scalars: "geometry" });
  } else if (find("quantize")) {
    kernels.push(
      lowerKernel(
        packed ? `${name}_codes` : name,
        "quantize",
        s,
        spec.rotate ? "f32" : spec.input,
        { kind: "unpacked" },
        scaleLayout,
      ),
    );
    buffers.push({
      name: packed ? "codes_unpacked" : "codes",
      elem: codeElem,
      role: packed ? "temp" : "output",
      length: "elements",
    });
    buffers.push({ name: "scales", elem: scaleElem, role: "output", length: scaleLength });
    const bind: Record<string, string> = {
      x: xName,
      codes: packed ? "codes_unpacked" : "codes",
      scales: "scales",
    };
    if (asym) {
      buffers.push({ name: "zeros", elem: codeElem, role: "output", length: "blocks" });
      bind.zeros = "zeros";
    }
    if (s.tensorScale) {
      buffers.push({ name: "tscale", elem: "f32", role: "output", length: "tscale" });
      bind.tscale = "tscale";
    }
    steps.push({ kernel: kernels[kernels.length - 1].name, bind, scalars: "geometry" });
    if (scaleLayout !== "plain") {
      kernels.push(scalePadKernel(`${name}_scales_pad`, s.block));
      steps.push({ kernel: `${name}_scales_pad`, bind: { scales: "scales" }, scalars: "geometry" });
    }
    if (packed) {
      kernels.push(packKernel(`${name}_pack`, packing));
      buffers.push({ name: "codes", elem: "u8", role: "output", length: "packed" });
      steps.push({
        kernel: `${name}_pack`,
        bind: { codes: "codes_unpacked", packed: "codes" },
        scalars: "count",
      });
    }
  } else {
    const codes = readCodes();
    kernels.push(lowerKernel(name, "dequantize", s, "f32", packing, scaleLayout));
    const bind: Record<string, string> = { codes, y: "y" };
    readScales(bind);
    buffers.push({ name: "y", elem: "f32", role: "output", length: "elements" });
    steps.push({ kernel: kernels[kernels.length - 1].name, bind, scalars: "geometry" });
  }
  return { spec, codeLayout: packing, scaleLayout, kernels, buffers, steps };
}

function plan(spec: KernelSpec): Plan {
  return lower(layout(fuse(buildGraph(spec)), spec), spec);
}

/** Copies a plan's kernels, buffers and steps into another, renaming buffers and kernels. */
function splice(
  into: { kernels: Kernel[]; buffers: BufferDecl[]; steps: Step[] },
  p: Plan,
  prefix: string,
  rename: Record<string, string>,
  nested: boolean,
): void {
  const name = (b: string) => rename[b] ?? `${prefix}${b}`;
  for (const k of p.kernels) into.kernels.push({ ...k, name: `${prefix}${k.name}` });
  for (const b of p.buffers) {
    if (into.buffers.some((x) => x.name === name(b.name))) continue;
    const length: LengthRule = !nested
      ? b.length
      : b.length === "elements"
        ? "blocks"
        : b.length === "blocks"
          ? "nested_blocks"
          : b.length;
    into.buffers.push({
      ...b,
      name: name(b.name),
      role: b.name in rename ? "temp" : b.role,
      length,
    });
  }
  for (const st of p.steps) {
    if ("host" in st) continue;
    const bind = Object.fromEntries(Object.entries(st.bind).map(([k, v]) => [k, name(v)]));
    const scalars =
      nested && st.scalars === "geometry"
        ? "nested"
        : nested && st.scalars === "count"
          ? "blocks"
          : st.scalars;
    into.steps.push({ kernel: `${prefix}${st.kernel}`, bind, scalars });
  }
}

/**
 * Double quantization (QLoRA): the element kernels run with f32 block scales;
 * the host takes their mean; the centred scales go through the nested scheme's
 * own plan; dequantization restores them before the element kernel reads them.
 */
function lowerDoubleQuant(spec: KernelSpec): Plan {
  const dq = spec.scheme.doubleQuant!;
  const base = { ...spec.scheme, doubleQuant: undefined };
  const nestedSpec = (kind: KernelSpec["kind"]): KernelSpec => ({
    name: "dq",
    kind,
    scheme: dq.scheme,
    input: "f32",
    output: "f32",
    layout: "unpacked",
  });
  const out = { kernels: [] as Kernel[], buffers: [] as BufferDecl[], steps: [] as Step[] };
  const offset: BufferDecl = { name: "dq_offset", elem: "f32", role: "output", length: "one" };
  const center = (scales: string) => {
    out.buffers.push({ name: "centered", elem: "f32", role: "temp", length: "blocks" });
    out.kernels.push(centerKernel(`${spec.name}_center`));
    out.steps.push({ host: "dq_offset", from: scales, to: "dq_offset", mode: dq.offset });
    out.steps.push({
      kernel: `${spec.name}_center`,
      bind: { scales32: scales, offset: "dq_offset", centered: "centered" },
      scalars: "blocks",
    });
  };
  const restore = (into: string) => {
    out.buffers.push({ name: into, elem: "u32", role: "temp", length: "blocks" });
    out.kernels.push(restoreKernel(`${spec.name}_restore`));
    out.steps.push({
      kernel: `${spec.name}_restore`,
      bind: { restored: "restored", offset: "dq_offset", scales32: into },
      scalars: "blocks",
    });
  };
  const outerQuantize = plan({
    ...spec,
    kind: "quantize",
    scheme: base,
    layout: spec.kind === "qdq" ? "unpacked" : spec.layout,
  });
  const outerDequantize = plan({
    ...spec,
    kind: "dequantize",
    scheme: base,
    layout: spec.kind === "qdq" ? "unpacked" : spec.layout,
  });
  let layoutOf = outerQuantize.codeLayout;

  if (spec.kind === "quantize") {
    // the f32 block scales before compression stay an output, as the interpreter's `scales`
    splice(out, outerQuantize, "", {}, false);
    out.buffers.push(offset);
    center("scales");
    splice(out, plan(nestedSpec("quantize")), "dq_", { x: "centered" }, true);
  } else if (spec.kind === "dequantize") {
    layoutOf = outerDequantize.codeLayout;
    out.buffers.push({ ...offset, role: "input" });
    splice(out, plan(nestedSpec("dequantize")), "dq_", { y: "restored" }, true);
    restore("scales32");
    splice(out, outerDequantize, "", { scales: "scales32" }, false);
  } else if (spec.kind === "qdq") {
    splice(out, outerQuantize, "q_", { x: "x", codes: "codes_q", scales: "scales32" }, false);
    out.buffers.push({ ...offset, role: "temp" });
    center("scales32");
    splice(out, plan(nestedSpec("qdq")), "dq_", { x: "centered", y: "restored" }, true);
    restore("scales32r");
    splice(out, outerDequantize, "", { codes: "codes_q", scales: "scales32r", y: "y" }, false);
    out.buffers.forEach((b, j) => {
      if (b.name === "x") out.buffers[j] = { ...b, role: "input" };
      if (b.name === "y") out.buffers[j] = { ...b, role: "output" };
    });
  } else {
    // qdq_backward: the clip mask depends only on the first-level scales
    const p = plan({ ...spec, scheme: base });
    return { ...p, spec };
  }
  return {
    spec,
    codeLayout: layoutOf,
    kernels: out.kernels,
    buffers: out.buffers,
    steps: out.steps,
  };
}
