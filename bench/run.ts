/**
 * `npm run bench [-- suite...] [--size N] [--scheme a,b]`: prints one JSON document,
 * then a table. Suites: interp. Benchmarks report numbers; they never fail a build.
 */
import { parseArgs } from "node:util";
import { benchInterpreter } from "./interpreter.js";

const { values, positionals } = parseArgs({
  allowPositionals: true,
  options: { size: { type: "string" }, scheme: { type: "string" } },
});
const suites = positionals.length ? positionals : ["interp"];
const size = values.size ? Number(values.size) : 1 << 22;
const only = values.scheme?.split(",");

const report: Record<string, unknown> = { node: process.version, date: new Date().toISOString() };
for (const suite of suites) {
  if (suite !== "interp") throw new Error(`unknown bench suite ${suite}; suites: interp`);
  const rows = benchInterpreter(size, only);
  report.interp = rows;
  console.log(JSON.stringify(report, null, 2));
  console.table(rows);
}
