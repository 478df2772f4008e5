/**
 * WebAssembly.compile with the one failure qkc can explain: a module built
 * with relaxed SIMD (`qkc compile --target wasm --relaxed-simd` writes it as
 * kernels.relaxed.wasm, beside the portable kernels.wasm) on a runtime without
 * it (Node 20, which has it behind --experimental-wasm-relaxed-simd; Node 22+
 * and Chrome 114+ have it on). The generated bindings re-export
 * `relaxedSimdSupported` to pick the file.
 */

/** the smallest module that uses relaxed SIMD (one function: f32x4.relaxed_madd of three params) */
// prettier-ignore
const RELAXED_PROBE = new Uint8Array([
  0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00, // magic, version
  0x01, 0x08, 0x01, 0x60, 0x03, 0x7b, 0x7b, 0x7b, 0x01, 0x7b, // type: (v128 v128 v128) -> v128
  0x03, 0x02, 0x01, 0x00, // function 0 of type 0
  0x0a, 0x0d, 0x01, 0x0b, 0x00, // code: one body of 11 bytes, no locals
  0x20, 0x00, 0x20, 0x01, 0x20, 0x02, // local.get 0, 1, 2
  0xfd, 0x85, 0x02, // f32x4.relaxed_madd (0xfd 0x105)
  0x0b, // end
]);

/** whether this runtime compiles relaxed SIMD */
export const relaxedSimdSupported = (): boolean => WebAssembly.validate(RELAXED_PROBE);

export async function compileModule(bytes: Uint8Array): Promise<WebAssembly.Module> {
  try {
    return await WebAssembly.compile(new Uint8Array(bytes));
  } catch (e) {
    if (e instanceof WebAssembly.CompileError && !relaxedSimdSupported())
      throw new WebAssembly.CompileError(
        `${e.message} (if it is a --relaxed-simd module, kernels.relaxed.wasm: this runtime has no relaxed SIMD; ` +
          "load kernels.wasm instead, or run on Node 22+ or Chrome 114+, or node --experimental-wasm-relaxed-simd)",
      );
    throw e;
  }
}
