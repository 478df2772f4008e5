/**
 * GPUBufferUsage and GPUMapMode values (WebGPU spec), so the WGSL runtime
 * needs no WebGPU globals (Dawn in Node provides none).
 */
export const MAP_READ = 0x1; // also GPUMapMode.READ
export const COPY_SRC = 0x4;
export const COPY_DST = 0x8;
export const UNIFORM = 0x40;
export const STORAGE = 0x80;
