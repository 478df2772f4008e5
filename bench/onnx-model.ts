/**
 * The two ONNX models of the GEMV peer bench, written as protobuf with
 * protobufjs's Writer (field numbers from onnx.proto): y = x W^T for
 * x [1, K] as
 * - `MatMulNBits` (com.microsoft; bits 4, block_size 32, no zero-point input,
 *   so the zero point is 8): B uint8 [N, K / 32, 16], two codes per byte, low
 *   nibble first; scales f32 [N * K / 32];
 * - a plain f32 `MatMul` with B = W^T [K, N] (the dequantized weights).
 */
import protobuf from "protobufjs/minimal.js";

type Writer = protobuf.Writer;
const FLOAT = 1;
const UINT8 = 2;
const INT_ATTRIBUTE = 2;

const message = (build: (w: Writer) => void): Uint8Array => {
  const w = protobuf.Writer.create();
  build(w);
  return w.finish();
};
const bytes = (w: Writer, field: number, b: Uint8Array) => w.uint32((field << 3) | 2).bytes(b);
const text = (w: Writer, field: number, s: string) => w.uint32((field << 3) | 2).string(s);
const int = (w: Writer, field: number, v: number) => w.uint32(field << 3).int64(v);

function tensor(name: string, type: number, dims: number[], raw: Uint8Array): Uint8Array {
  return message((w) => {
    for (const d of dims) int(w, 1, d);
    int(w, 2, type);
    text(w, 8, name);
    bytes(w, 9, raw);
  });
}

function valueInfo(name: string, type: number, dims: number[]): Uint8Array {
  const shape = message((w) => {
    for (const d of dims)
      bytes(
        w,
        1,
        message((x) => int(x, 1, d)),
      );
  });
  const tensorType = message((w) => {
    int(w, 1, type);
    bytes(w, 2, shape);
  });
  return message((w) => {
    text(w, 1, name);
    bytes(
      w,
      2,
      message((x) => bytes(x, 1, tensorType)),
    );
  });
}

function node(op: string, domain: string, inputs: string[], attributes: Record<string, number>) {
  return message((w) => {
    for (const i of inputs) text(w, 1, i);
    text(w, 2, "y");
    text(w, 3, op);
    text(w, 4, op);
    for (const [name, value] of Object.entries(attributes))
      bytes(
        w,
        5,
        message((a) => {
          text(a, 1, name);
          int(a, 3, value);
          int(a, 20, INT_ATTRIBUTE);
        }),
      );
    if (domain) text(w, 7, domain);
  });
}

function model(
  nodeBytes: Uint8Array,
  initializers: Uint8Array[],
  k: number,
  n: number,
): Uint8Array {
  const graph = message((w) => {
    bytes(w, 1, nodeBytes);
    text(w, 2, "gemv");
    for (const t of initializers) bytes(w, 5, t);
    bytes(w, 11, valueInfo("x", FLOAT, [1, k]));
    bytes(w, 12, valueInfo("y", FLOAT, [1, n]));
  });
  const opset = (domain: string, version: number) =>
    message((w) => {
      if (domain) text(w, 1, domain);
      int(w, 2, version);
    });
  return message((w) => {
    int(w, 1, 9); // IR version
    bytes(w, 8, opset("", 21));
    bytes(w, 8, opset("com.microsoft", 1));
    bytes(w, 7, graph);
  });
}

const raw = (a: Float32Array | Uint8Array) => new Uint8Array(a.buffer, a.byteOffset, a.byteLength);

/** `codes`: unsigned 4-bit q (0..15) per weight of W [n, k], row-major; `scales`: one per 32 along k */
export function matMulNBits(codes: Uint8Array, scales: Float32Array, n: number, k: number) {
  const blocks = k / 32;
  const b = new Uint8Array(n * blocks * 16);
  for (let j = 0; j < n * k; j += 2) b[j / 2] = (codes[j] & 15) | ((codes[j + 1] & 15) << 4);
  return model(
    node("MatMulNBits", "com.microsoft", ["x", "b", "scales"], {
      K: k,
      N: n,
      bits: 4,
      block_size: 32,
    }),
    [tensor("b", UINT8, [n, blocks, 16], b), tensor("scales", FLOAT, [n * blocks], raw(scales))],
    k,
    n,
  );
}

/** `w`: W [n, k] row-major (stored transposed, as MatMul's B [k, n]) */
export function matMul(w: Float32Array, n: number, k: number) {
  const t = new Float32Array(k * n);
  for (let r = 0; r < n; r++) for (let c = 0; c < k; c++) t[c * n + r] = w[r * k + c];
  return model(node("MatMul", "", ["x", "b"], {}), [tensor("b", FLOAT, [k, n], raw(t))], k, n);
}
