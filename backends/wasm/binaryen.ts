/**
 * binaryen (npm `binaryen`, an ESM module that top-level-awaits its own wasm),
 * imported once for the WebAssembly backend so that the validator's messages can
 * be captured: binaryen binds `console.log`/`console.error` when it loads and
 * prints validation errors through them. While the import runs, both are
 * forwarders to a capture buffer (or to the real console when nothing is
 * capturing); the real console is restored as soon as the import finishes.
 *
 * Every file of backends/wasm takes binaryen from here, never from "binaryen"
 * directly, so that this module is the one that loads it. If some other module
 * loaded binaryen first, capture finds nothing and callers say so.
 */
import type BinaryenT from "binaryen";

type Print = (...args: unknown[]) => void;

let sink: string[] | undefined;
const realLog: Print = console.log;
const realError: Print = console.error;
const forward =
  (real: Print): Print =>
  (...args) => {
    if (sink) sink.push(args.map(String).join(" "));
    else real.apply(console, args);
  };

console.log = forward(realLog);
console.error = forward(realError);
let loaded: typeof BinaryenT;
try {
  loaded = (await import("binaryen")).default;
} finally {
  console.log = realLog;
  console.error = realError;
}

export const binaryen = loaded;
export type Module = BinaryenT.Module;
export type ExpressionRef = BinaryenT.ExpressionRef;
export type Type = BinaryenT.Type;

/**
 * Names a local for the text format. (binaryen.js has it as the static
 * `binaryen.Function.setLocalName`; its typings put it on Module instances.)
 */
export const setLocalName: (func: number, index: number, name: string) => void = (
  loaded as unknown as { Function: { setLocalName(f: number, i: number, n: string): void } }
).Function.setLocalName;

/** relaxed SIMD's `f32x4.relaxed_madd(a, b, c)`: a * b + c, fused or not (binaryen.js has no helper for it) */
export const relaxedMadd = (
  m: Module,
  a: ExpressionRef,
  b: ExpressionRef,
  c: ExpressionRef,
): ExpressionRef =>
  (
    loaded as unknown as {
      _BinaryenSIMDTernary(mod: number, op: number, a: number, b: number, c: number): number;
      RelaxedMaddVecF32x4: number;
    }
  )._BinaryenSIMDTernary(
    (m as unknown as { ptr: number }).ptr,
    (loaded as unknown as { RelaxedMaddVecF32x4: number }).RelaxedMaddVecF32x4,
    a,
    b,
    c,
  );

/** `v` in all four i32 lanes. */
export const splatI32 = (m: Module, v: number): ExpressionRef => m.i32x4.splat(m.i32.const(v | 0));

/** Runs `fn`, returning its value and whatever binaryen printed meanwhile. */
export function capturePrints<T>(fn: () => T): { value: T; printed: string } {
  const outer = sink;
  const lines: string[] = [];
  sink = lines;
  try {
    return { value: fn(), printed: lines.join("\n") };
  } finally {
    sink = outer;
  }
}
