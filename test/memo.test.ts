import { describe, expect, it } from "vitest";
import { codec, type OverflowPolicy, type RoundingMode } from "../ir/formats/index.js";
import { BUILTIN_FORMATS } from "../stdlib/index.js";

const f32 = new Float32Array(1);
const u32 = new Uint32Array(f32.buffer);

describe("float32 memo of the exact encoders", () => {
  const modes: RoundingMode[] = ["nearest_even", "nearest_away", "nearest_lower", "toward_zero"];
  const policies: OverflowPolicy[] = ["saturate", "propagate"];
  for (const format of BUILTIN_FORMATS) {
    const c = codec(format);
    if (c.bits > 16) continue;
    it(`${format.name}: equals the exact encoder on every prefix edge and random float32 patterns`, () => {
      let seed = 99;
      const next = () => (seed = (Math.imul(seed, 1103515245) + 12345) >>> 0);
      for (const mode of modes) {
        for (const overflow of policies) {
          const rounding = { mode, randomBits: 8 };
          const exact = c.encoder(rounding, overflow);
          const memo = c.float32Encoder(rounding, overflow);
          let mismatches = 0;
          for (let prefix = 0; prefix < 65536; prefix += format.kind === "table" ? 1 : 3) {
            for (const low of [0, 1, 0x7fff, 0x8000, 0x8001, 0xfffe, 0xffff, next() & 0xffff]) {
              u32[0] = prefix * 65536 + low;
              const x = f32[0];
              if (memo(x, 0) !== exact(x, 0)) mismatches++;
            }
          }
          expect(mismatches, `${mode}/${overflow}`).toBe(0);
        }
      }
    });
  }
});
