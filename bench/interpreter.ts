/**
 * Interpreter throughput: elements/s for quantize, dequantize and qdq of every
 * built-in scheme, next to a memcpy of the same f32 data measured in the same run.
 */
import { dequantize, qdq, quantize } from "../ir/interpret/index.js";
import { BUILTIN_SCHEMES } from "../stdlib/index.js";
import { medianMs } from "./timing.js";

export interface InterpreterRow {
  scheme: string;
  kernel: "quantize" | "dequantize" | "qdq";
  elements: number;
  median_ms: number;
  melem_per_s: number;
  vs_memcpy: number;
}

export function benchInterpreter(elements = 1 << 22, only?: string[]): InterpreterRow[] {
  let s = 12345;
  const x = Float32Array.from({ length: elements }, () => {
    s = (s * 16807) % 2147483647;
    return Math.fround(Math.tan((s / 2147483647 - 0.5) * 3)); // heavy-tailed
  });
  const copy = new Float32Array(elements);
  const memcpyMs = medianMs(() => copy.set(x), 9);
  const rows: InterpreterRow[] = [];
  for (const scheme of BUILTIN_SCHEMES) {
    if (only && !only.includes(scheme.name)) continue;
    const q = quantize(scheme, x);
    const kernels = {
      quantize: () => quantize(scheme, x),
      dequantize: () => dequantize(q),
      qdq: () => qdq(scheme, x),
    };
    for (const [kernel, run] of Object.entries(kernels)) {
      const ms = medianMs(run, 5);
      rows.push({
        scheme: scheme.name,
        kernel: kernel as InterpreterRow["kernel"],
        elements,
        median_ms: +ms.toFixed(3),
        melem_per_s: +(elements / ms / 1e3).toFixed(2),
        vs_memcpy: +(ms / memcpyMs).toFixed(1),
      });
    }
  }
  return rows;
}
