/**
 * The WASM emitter (emit.ts, which loads binaryen) on first use. The specifier
 * is a variable so that bundlers do not follow it: binaryen needs Node and is
 * megabytes large, and a browser bundle of the generated bindings or of the
 * runtime must stay free of it. Pages get prebuilt modules instead.
 */
type Emitter = typeof import("./emit.js");

const EMITTER = "./emit.js";

export function loadEmitter(): Promise<Emitter> {
  return import(EMITTER) as Promise<Emitter>;
}
