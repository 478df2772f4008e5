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
  const u32 = () => {
    let value = 0;
    for (let shift = 0; ; shift += 7) {
      const byte = out[at++];
      value += (byte & 0x7f) * 2 ** shift;
      if (byte < 0x80) return value;
    }
  };
  const skipName = () => {
    const n = u32();
    at += n;
  };
  if (out[0] !== 0 || out[1] !== 0x61 || out[2] !== 0x73 || out[3] !== 0x6d)
    throw new Error("not a WebAssembly module (the bytes do not start with \\0asm)");
  while (at < out.length) {
    const id = out[at++];
    const size = u32();
    if (id !== IMPORT_SECTION) {
      at += size;
      continue;
    }
    for (let count = u32(); count > 0; count--) {
      skipName();
      skipName();
      const kind = out[at++];
      if (kind === MEMORY_IMPORT) {
        if (out[at] === LIMITS_MIN_MAX) out[at] = LIMITS_SHARED;
        else if (out[at] !== LIMITS_SHARED)
          throw new Error(
            "the module's memory declares no maximum, so it cannot be shared; emit it with qkc (which sets one)",
          );
        return out;
      }
      if (kind === 0) {
        u32(); // function: type index
      } else if (kind === 1) {
        at++; // table: element type, then limits
        const flag = out[at++];
        u32();
        if (flag & 1) u32();
      } else if (kind === 3) {
        at += 2; // global: value type, mutability
      } else throw new Error(`unknown import kind ${kind} in the WebAssembly module`);
    }
    break;
  }
  throw new Error("the WebAssembly module imports no memory; it was not emitted by qkc");
}
