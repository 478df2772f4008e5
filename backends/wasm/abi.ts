/**
 * The contract between the WebAssembly emitter and its runtime: the memory
 * layout constants, and the manifest the emitter writes into each module's
 * `qkc.manifest` custom section. Kept apart from emit.ts so that the runtime
 * (Node and browsers) does not load binaryen.
 */
import type { Param } from "../../ir/kernel.js";

/** a wasm page */
export const PAGE_BYTES = 65536;
/** the memory's declared maximum, in pages (4 GiB) */
export const MAX_PAGES = 65536;
/** where the first table goes; [0, 16) stays zero */
export const TABLE_BASE = 16;
/** alignment of tables and (in the runtime) buffers */
export const ALIGN = 16;
export const MANIFEST_SECTION = "qkc.manifest";

/** What the runtime needs to know that the wasm binary does not say by itself. */
export interface WasmManifest {
  readonly format: "qkc-wasm";
  readonly version: 1;
  /** bytes [0, reservedBytes) hold the guard and the tables; buffers go after */
  readonly reservedBytes: number;
  readonly kernels: readonly { readonly name: string; readonly params: readonly Param[] }[];
  /** kernel name -> table name -> byte offset */
  readonly tableOffsets: Readonly<Record<string, Readonly<Record<string, number>>>>;
}

/** What emitWasm returns. */
export interface WasmArtifact {
  readonly binary: Uint8Array;
  readonly wat: string;
  readonly reservedBytes: number;
  readonly tableOffsets: WasmManifest["tableOffsets"];
  readonly manifest: WasmManifest;
}
