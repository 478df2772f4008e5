/**
 * What the WASM and WGSL bindings generators share: the ts-morph project that
 * prints a typed module and compiles it to .js and .d.ts, prettier, the
 * embedded plans, one method signature per kernel request, and writing the
 * three files atomically.
 */
import { join } from "node:path";
import {
  Project,
  VariableDeclarationKind,
  type MethodSignatureStructure,
  type OptionalKind,
  type SourceFile,
  type VariableStatementStructure,
} from "ts-morph";
import * as prettier from "prettier";
import { ARRAY_NAME } from "./typed-arrays.js";
import type { Plan } from "../passes/lower.js";
import { writeFileAtomic } from "../cli/atomic.js";

/** What the runtime needs of a plan: no KernelIR bodies, only signatures. */
export function slimPlan(p: Plan): object {
  return {
    ...p,
    kernels: p.kernels.map((k) => ({ name: k.name, params: k.params, tables: [], body: [] })),
  };
}

/** A generated module: its TypeScript source and what tsc makes of it. */
export interface BindingFiles {
  ts: string;
  js: string;
  dts: string;
}

/**
 * Prints the module `write` builds into kernels.ts, formats it with prettier,
 * and compiles it to kernels.js and kernels.d.ts (ES2022, NodeNext; imports
 * are left unresolved, so no qkc install is needed to generate).
 */
export async function printModule(write: (file: SourceFile) => void): Promise<BindingFiles> {
  const project = new Project({
    useInMemoryFileSystem: true,
    compilerOptions: {
      declaration: true,
      target: 9 /* ES2022 */,
      module: 199 /* NodeNext */,
      strict: true,
      skipLibCheck: true,
      noResolve: true,
    },
  });
  const file = project.createSourceFile("kernels.ts", "", { overwrite: true });
  write(file);
  const ts = await prettier.format(file.getFullText(), { parser: "typescript", printWidth: 100 });
  file.replaceWithText(ts);
  const out = project.emitToMemory();
  const text = (ext: string) => out.getFiles().find((f) => f.filePath.endsWith(ext))?.text ?? "";
  return { ts, js: text("kernels.js"), dts: text("kernels.d.ts") };
}

/** `const PLANS`: every plan, slim, by kernel request name. */
export function plansStatement(plans: readonly Plan[]): OptionalKind<VariableStatementStructure> {
  return {
    declarationKind: VariableDeclarationKind.Const,
    declarations: [
      {
        name: "PLANS",
        initializer: `${JSON.stringify(Object.fromEntries(plans.map((p) => [p.spec.name, slimPlan(p)])))} as unknown as Record<string, Plan>`,
      },
    ],
  };
}

/** `{ name: TypedArray; ... }` of the plan's buffers of `role`. */
export function bufferFields(p: Plan, role: "input" | "output"): string {
  const fields = p.buffers
    .filter((b) => b.role === role)
    .map((b) => `${b.name}: ${ARRAY_NAME[b.elem]}`);
  return `{ ${fields.join("; ")} }`;
}

/**
 * The method for kernel request `p`: (inputs, shape, seed? for kinds that
 * round stochastically) => `returns(outputs type)`.
 */
export function kernelMethod(
  p: Plan,
  returns: (outputs: string) => string,
): OptionalKind<MethodSignatureStructure> {
  return {
    name: p.spec.name,
    docs: [
      `${p.spec.kind} with scheme ${p.spec.scheme.name}${p.spec.scheme.doc ? ` (${p.spec.scheme.doc})` : ""}; shape is the tensor's (for gemv: W's [N, K]).`,
    ],
    parameters: [
      { name: "inputs", type: bufferFields(p, "input") },
      { name: "shape", type: "readonly number[]" },
      ...(p.spec.kind === "quantize" || p.spec.kind === "qdq"
        ? [{ name: "seed", type: "number", hasQuestionToken: true }]
        : []),
    ],
    returnType: returns(bufferFields(p, "output")),
  };
}

/** Writes kernels.ts, kernels.js and kernels.d.ts into `dir` (each to a temp file, then renamed); returns their names. */
export async function writeBindingFiles(dir: string, files: BindingFiles): Promise<string[]> {
  const names = { ts: "kernels.ts", js: "kernels.js", dts: "kernels.d.ts" } as const;
  for (const [key, name] of Object.entries(names))
    await writeFileAtomic(join(dir, name), files[key as keyof BindingFiles]);
  return Object.values(names);
}
