/**
 * The shared-memory twin of an emitted module, made from its bytes. A module
 * emitted with `sharedMemory: true` differs from the plain one in one byte:
 * the limits flag of its `env.memory` import (1 = min and max, 3 = shared with
 * min and max; binaryen enables no instruction that needs more). Rewriting
 * that flag lets the generated bindings ship one .wasm and still run it on
 * threads over a shared memory.
 */

const IMPORT_SECTION = 2;
const MEMORY_IMPORT = 2;
const LIMITS_MIN_MAX = 0x01;
const LIMITS_SHARED = 0x03;

/** A copy of `binary` whose imported memory is shared. */
export function withSharedMemory(binary: Uint8Array): Uint8Array {
  const out = new Uint8Array(binary);
  let at = 8;
  const skip = (n: number) => {
    at += n;
    if (at > out.length) throw new Error("the WebAssembly module is cut short (a truncated file?)");
  };
  const byte = () => {
    skip(1);
    return out[at - 1];
  };
  const u32 = () => {
    let value = 0;
    for (let shift = 0; ; shift += 7) {
      const b = byte();
      value += (b & 0x7f) * 2 ** shift;
      if (b < 0x80) return value;
    }
  };
  const skipName = () => skip(u32());
  if (out[0] !== 0 || out[1] !== 0x61 || out[2] !== 0x73 || out[3] !== 0x6d)
    throw new Error("not a WebAssembly module (the bytes do not start with \\0asm)");
  while (at < out.length) {
    const id = out[at++];
    const size = u32();
    if (id !== IMPORT_SECTION) {
      skip(size);
      continue;
    }
    for (let count = u32(); count > 0; count--) {
      skipName();
      skipName();
      const kind = byte();
      if (kind === MEMORY_IMPORT) {
        const flag = byte();
        if (flag === LIMITS_MIN_MAX) out[at - 1] = LIMITS_SHARED;
        else if (flag !== LIMITS_SHARED)
          throw new Error(
            "the module's memory declares no maximum, so it cannot be shared; emit it with qkc (which sets one)",
          );
        return out;
      }
      if (kind === 0) {
        u32(); // function: type index
      } else if (kind === 1) {
        skip(1); // table: element type, then limits
        const flag = byte();
        u32();
        if (flag & 1) u32();
      } else if (kind === 3) {
        skip(2); // global: value type, mutability
      } else throw new Error(`unknown import kind ${kind} in the WebAssembly module`);
    }
    break;
  }
  throw new Error("the WebAssembly module imports no memory; it was not emitted by qkc");
}
