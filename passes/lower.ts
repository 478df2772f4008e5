/**
 * Pass 5: the graph to KernelIR functions and the plan that runs them: which
 * buffers exist, how long each is for a given tensor shape, and the sequence
 * of kernel calls with their bindings.
 */
import type { CodeLayout, Graph } from "../ir/graph.js";
import type { ElemType, Kernel } from "../ir/kernel.js";
import { formatBits } from "../ir/formats/index.js";
import type { KernelSpec } from "../ir/program.js";
import { lowerKernel } from "./lower/kernels.js";
import { packKernel, unpackKernel } from "./lower/pack.js";
import { lowerGemv } from "./lower/gemv.js";
import { lowerRotate } from "./lower/rotate.js";

/** How long a buffer is, given the tensor: one per element, per block, packed bytes, or the 3 tensor-scale floats. */
export type LengthRule = "elements" | "blocks" | "packed" | "tscale" | "rows" | "columns";

export interface BufferDecl {
  readonly name: string;
  readonly elem: ElemType;
  readonly role: "input" | "output" | "temp";
  readonly length: LengthRule;
}

export interface Step {
  readonly kernel: string;
  /** kernel buffer param -> plan buffer */
  readonly bind: Readonly<Record<string, string>>;
  /** `geometry`: block-geometry scalars (+ seed); `count`: n = number of elements; `matrix`: N, K of a 2-D W */
  readonly scalars: "geometry" | "count" | "matrix";
}

export interface Plan {
  readonly spec: KernelSpec;
  readonly codeLayout: CodeLayout;
  readonly kernels: readonly Kernel[];
  readonly buffers: readonly BufferDecl[];
  readonly steps: readonly Step[];
}

const elemOf = (bits: number): ElemType => (bits <= 8 ? "u8" : bits <= 16 ? "u16" : "u32");

export function lower(g: Graph, spec: KernelSpec): Plan {
  const s = spec.scheme;
  const find = (op: string) => g.nodes.find((n) => n.op.op === op);
  const pack = find("pack");
  const unpack = find("unpack");
  const packing: CodeLayout =
    pack?.op.op === "pack"
      ? pack.op.layout
      : unpack?.op.op === "unpack"
        ? unpack.op.layout
        : { kind: "unpacked" };
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

  if (find("gemv")) {
    const packed = packing.kind !== "unpacked";
    buffers.push({
      name: "codes",
      elem: packed ? "u8" : codeElem,
      role: "input",
      length: packed ? "packed" : "elements",
    });
    if (packed) {
      kernels.push(unpackKernel(`${name}_unpack`, packing));
      buffers.push({ name: "codes_unpacked", elem: codeElem, role: "temp", length: "elements" });
      steps.push({
        kernel: `${name}_unpack`,
        bind: { packed: "codes", codes: "codes_unpacked" },
        scalars: "count",
      });
    }
    kernels.push(lowerGemv(packed ? `${name}_dot` : name, s, spec.input));
    buffers.push({ name: "scales", elem: scaleElem, role: "input", length: "blocks" });
    const bind: Record<string, string> = {
      codes: packed ? "codes_unpacked" : "codes",
      scales: "scales",
      x: "x",
      y: "y",
    };
    if (asym) {
      buffers.push({ name: "zeros", elem: codeElem, role: "input", length: "blocks" });
      bind.zeros = "zeros";
    }
    if (s.tensorScale) {
      buffers.push({ name: "tscale", elem: "f32", role: "input", length: "tscale" });
      bind.tscale = "tscale";
    }
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
    const packed = packing.kind !== "unpacked";
    kernels.push(
      lowerKernel(packed ? `${name}_codes` : name, "quantize", s, spec.rotate ? "f32" : spec.input),
    );
    buffers.push({
      name: packed ? "codes_unpacked" : "codes",
      elem: codeElem,
      role: packed ? "temp" : "output",
      length: "elements",
    });
    buffers.push({ name: "scales", elem: scaleElem, role: "output", length: "blocks" });
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
    const packed = packing.kind !== "unpacked";
    buffers.push({
      name: "codes",
      elem: packed ? "u8" : codeElem,
      role: "input",
      length: packed ? "packed" : "elements",
    });
    if (packed) {
      kernels.push(unpackKernel(`${name}_unpack`, packing));
      buffers.push({ name: "codes_unpacked", elem: codeElem, role: "temp", length: "elements" });
      steps.push({
        kernel: `${name}_unpack`,
        bind: { packed: "codes", codes: "codes_unpacked" },
        scalars: "count",
      });
    }
    kernels.push(lowerKernel(packed ? `${name}_values` : name, "dequantize", s));
    buffers.push({ name: "scales", elem: scaleElem, role: "input", length: "blocks" });
    const bind: Record<string, string> = {
      codes: packed ? "codes_unpacked" : "codes",
      scales: "scales",
      y: "y",
    };
    if (asym) {
      buffers.push({ name: "zeros", elem: codeElem, role: "input", length: "blocks" });
      bind.zeros = "zeros";
    }
    if (s.tensorScale) {
      buffers.push({ name: "tscale", elem: "f32", role: "input", length: "tscale" });
      bind.tscale = "tscale";
    }
    buffers.push({ name: "y", elem: "f32", role: "output", length: "elements" });
    steps.push({ kernel: kernels[kernels.length - 1].name, bind, scalars: "geometry" });
  }
  return { spec, codeLayout: packing, kernels, buffers, steps };
}
