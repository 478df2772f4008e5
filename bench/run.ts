/**
 * `npm run bench [-- suite...] [--size N] [--scheme a,b] [--kernels k,l] [--cases N]`: prints one JSON
 * document, then a table. Suites: interp (interpreter throughput), wasm (the
 * WebAssembly backend vs the interpreter and memcpy), fuzz-dsl (the
 * front end on 100k random and mutated .qs sources), tune (the full qkc tune sweep,
 * serial against worker threads). Benchmarks report numbers;
 * they never fail a build.
 */
import { parseArgs } from "node:util";
import { benchInterpreter } from "./interpreter.js";
import { benchWasm } from "./wasm.js";
import { benchTune } from "./tune.js";
import { benchCuda } from "./cuda.js";
import { benchWgsl } from "./wgsl.js";
import { fuzz } from "../test/fuzz/qs-fuzz.js";

const { values, positionals } = parseArgs({
  allowPositionals: true,
  options: {
    size: { type: "string" },
    scheme: { type: "string" },
    kernels: { type: "string" },
    cases: { type: "string" },
  },
});
const suites = positionals.length ? positionals : ["interp"];
const size = values.size ? Number(values.size) : 1 << 22;
const only = values.scheme?.split(",");

const report: Record<string, unknown> = { node: process.version, date: new Date().toISOString() };
for (const suite of suites) {
  if (suite === "interp") {
    const rows = benchInterpreter(size, only);
    report.interp = rows;
    console.log(JSON.stringify(report, null, 2));
    console.table(rows);
  } else if (suite === "wasm") {
    // --kernels gemv: only those kernel kinds (quantize, dequantize, qdq, gemv)
    const kinds = values.kernels?.split(",");
    const result = await benchWasm(values.size ? Number(values.size) : 1 << 24, only, kinds);
    report.wasm = result;
    console.log(JSON.stringify(report, null, 2));
    console.table(result.rows);
    if (result.onnx) console.table(result.onnx);
  } else if (suite === "fuzz-dsl") {
    const cases = values.cases ? Number(values.cases) : 100_000;
    const t0 = performance.now();
    const r = fuzz(cases, Date.now() % 2 ** 31);
    const summary = {
      cases,
      with_errors: r.withErrors,
      failures: r.failures.length,
      seconds: +((performance.now() - t0) / 1000).toFixed(1),
    };
    report["fuzz-dsl"] = { ...summary, first_failures: r.failures.slice(0, 5) };
    console.log(JSON.stringify(report, null, 2));
    console.table([summary]);
  } else if (suite === "tune") {
    const r = await benchTune();
    report.tune = r;
    console.log(JSON.stringify(report, null, 2));
    console.table(r.rows);
  } else if (suite === "cuda") {
    const r = await benchCuda(only);
    report.cuda = r;
    console.log(JSON.stringify(report, null, 2));
    if (typeof r !== "string") console.table(r.rows);
  } else if (suite === "wgsl") {
    const r = await benchWgsl(values.size ? Number(values.size) : 1 << 20, only);
    report.wgsl = r;
    console.log(JSON.stringify(report, null, 2));
    console.table(r.rows);
  } else {
    throw new Error(
      `unknown bench suite ${suite}; suites: interp, wasm, fuzz-dsl, tune, cuda, wgsl`,
    );
  }
}
