/**
 * The 16-lane code packing loop of quantize (after the codes kernel), inside
 * the WebAssembly backend. `packLoop` takes the loop of a kernel that is,
 * statement for statement, passes/lower/pack.ts's packKernel for one layout
 * and emits its vector prefix:
 *   - nibbles: 32 codes (two 16-byte loads) -> 16 bytes per step. In u16
 *     lanes (odd code << 8 | even code), w = lanes & 0x0F0F, and
 *     w | w >> 4 (low nibble first) or w << 4 | w >> 8 (high first) holds the
 *     byte in its low half; one narrow gives the 16 bytes;
 *   - bits6: 64 codes (four loads) -> 48 bytes per step. In u32 lanes
 *     (c3 c2 c1 c0), the 24-bit word c0 | c1 << 6 | c2 << 12 | c3 << 18 is
 *     four masked shifts; a shuffle keeps its three bytes per lane.
 * The vector part runs when every pair (group of four) is whole: n even
 * (a multiple of 4); the codes past n that the scalar code reads as 0 are
 * then never touched. Everything else is the scalar loop's.
 */
import type { Kernel } from "../../ir/kernel.js";
import type { CodeLayout } from "../../ir/graph.js";
import { packKernel } from "../../passes/lower/pack.js";
import { binaryen, type ExpressionRef as Ref } from "./binaryen.js";
import { loop16, type For } from "./steps16.js";
import type { LoopContext } from "./vectorize.js";

const LAYOUTS: CodeLayout[] = [
  { kind: "nibbles", order: "low_first" },
  { kind: "nibbles", order: "high_first" },
  { kind: "bits6" },
];

let reference: { layout: CodeLayout; body: string; params: string }[] | undefined;

/** the layout whose pack kernel `k` is, or undefined */
function packLayout(k: Kernel): CodeLayout | undefined {
  reference ??= LAYOUTS.map((layout) => {
    const p = packKernel("pack", layout);
    return { layout, body: JSON.stringify(p.body), params: JSON.stringify(p.params) };
  });
  const body = JSON.stringify(k.body);
  const params = JSON.stringify(k.params);
  return reference.find((r) => r.body === body && r.params === params)?.layout;
}

/** The 16-lane prefix of a pack kernel's loop `s`, or undefined when `s` is not one. */
export function packLoop(
  ctx: LoopContext,
  s: For,
  startLocal: number,
  endLocal: number,
): Ref | undefined {
  if (ctx.kernel.body.length !== 1 || ctx.kernel.body[0] !== s) return undefined;
  const layout = packLayout(ctx.kernel);
  const n = ctx.lookup("n");
  if (!layout || !n) return undefined;
  const { m } = ctx;
  const i32 = binaryen.i32;
  const v128 = binaryen.v128;
  const get = (l: number, t = i32) => m.local.get(l, t);
  const ptr = (buffer: string, index: Ref) => m.i32.add(get(ctx.buffer(buffer)!.param), index);
  const six = layout.kind === "bits6";
  const per = six ? 4 : 2; // codes per packed unit, and 16-byte loads per step
  const c = Array.from({ length: per }, () => ctx.temp("v128"));
  const whole = m.i32.eqz(m.i32.and(get(n.index), m.i32.const(per - 1)));
  const splat16 = (v: number) => m.i16x8.splat(m.i32.const(v));
  const splat32 = (v: number) => m.i32x4.splat(m.i32.const(v));
  return loop16(
    ctx,
    s,
    startLocal,
    endLocal,
    {},
    {
      guard: whole,
      before: [],
      after: [],
      step: (at) => {
        const codes = m.i32.shl(get(at.index), m.i32.const(six ? 2 : 1));
        const loads = c.map((l, q) => m.local.set(l, m.v128.load(16 * q, 1, ptr("codes", codes))));
        if (!six) {
          const byte = (l: number) => {
            const w = () => m.v128.and(get(l, v128), splat16(0x0f0f));
            const p =
              layout.kind === "nibbles" && layout.order === "high_first"
                ? m.v128.or(m.i16x8.shl(w(), m.i32.const(4)), m.i16x8.shr_u(w(), m.i32.const(8)))
                : m.v128.or(w(), m.i16x8.shr_u(w(), m.i32.const(4)));
            return m.v128.and(p, splat16(0xff));
          };
          const out = m.i8x16.narrow_i16x8_u(byte(c[0]), byte(c[1]));
          return [...loads, m.v128.store(0, 1, ptr("packed", get(at.index)), out)];
        }
        const keep = [0, 1, 2, 4, 5, 6, 8, 9, 10, 12, 13, 14, 0, 0, 0, 0];
        const stores = c.flatMap((l, q) => {
          const x = () => get(l, v128);
          const field = (shift: number, mask: number) =>
            m.v128.and(shift ? m.i32x4.shr_u(x(), m.i32.const(shift)) : x(), splat32(mask));
          const word = m.v128.or(
            m.v128.or(field(0, 0x3f), field(2, 0xfc0)),
            m.v128.or(field(4, 0x3f000), field(6, 0xfc0000)),
          );
          const bytes = ctx.temp("v128");
          const b = () => get(bytes, v128);
          // 12 bytes: the low 8, then 4
          const at3 = m.i32.mul(get(at.index), m.i32.const(3));
          return [
            m.local.set(bytes, m.i8x16.shuffle(word, word, keep)),
            m.v128.store64_lane(12 * q, 1, 0, ptr("packed", at3), b()),
            m.v128.store32_lane(12 * q + 8, 1, 2, ptr("packed", at3), b()),
          ];
        });
        return [...loads, ...stores];
      },
    },
  );
}
