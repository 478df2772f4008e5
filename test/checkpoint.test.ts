import {
  copyFileSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  readFileSync,
  readdirSync,
  rmSync,
  writeFileSync,
} from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { main } from "../cli/main.js";
import {
  createSafetensors,
  openSafetensors,
  writeIndex,
  type StDType,
} from "../cli/safetensors.js";
import { bf16, codec, f16, NEAREST_EVEN } from "../ir/formats/index.js";
import { qdq } from "../ir/interpret/index.js";
import type { Scheme } from "../ir/scheme.js";
import { builtinScheme } from "../stdlib/index.js";

const dir = mkdtempSync(join(tmpdir(), "qkc-ckpt-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
let n = 0;
const fresh = (what: string) => join(dir, `${what}-${n++}`);

async function run(...argv: string[]) {
  let out = "";
  let err = "";
  const code = await main(argv, { stdout: (t) => void (out += t), stderr: (t) => void (err += t) });
  return { code, out, err };
}

async function ok(...argv: string[]) {
  const r = await run(...argv);
  if (r.code !== 0) throw new Error(`qkc ${argv.join(" ")} failed: ${r.err}`);
  return r;
}

interface Source {
  readonly name: string;
  readonly dtype: StDType;
  readonly shape: readonly number[];
  /** the values as f32 (exact for BF16 sources); `bytes` is what the file holds */
  readonly values: Float32Array;
  readonly bytes: Uint8Array;
}

/** Values with the hard cases: all-zero blocks, -0, a NaN, an Inf, tiny and large magnitudes. */
function awkward(count: number, seed: number): Float32Array {
  const x = Float32Array.from(
    { length: count },
    (_, i) => Math.sin(i * 0.731 + seed) * 2 ** ((i % 17) - 8),
  );
  x.fill(0, 0, 32);
  x[33] = -0;
  x[70] = 1e-30;
  if (count > 300) {
    x[200] = NaN;
    x[300] = -Infinity;
  }
  return x;
}

function f32Source(name: string, shape: number[], seed = 0): Source {
  const values = awkward(
    shape.reduce((a, b) => a * b, 1),
    seed,
  );
  return { name, dtype: "F32", shape, values, bytes: new Uint8Array(values.buffer) };
}

function bf16Source(name: string, shape: number[], seed = 0): Source {
  const wide = awkward(
    shape.reduce((a, b) => a * b, 1),
    seed,
  );
  const bits = Uint16Array.from(new Uint32Array(wide.buffer), (u) => u >>> 16);
  const values = new Float32Array(Uint32Array.from(bits, (b) => b << 16).buffer);
  return { name, dtype: "BF16", shape, values, bytes: new Uint8Array(bits.buffer) };
}

function writeCheckpoint(path: string, tensors: readonly Source[]) {
  const w = createSafetensors(
    path,
    tensors.map(({ name, dtype, shape }) => ({ name, dtype, shape })),
    { format: "pt" },
  );
  for (const t of tensors) w.write(t.name, t.bytes);
  w.finish();
}

const u32 = (x: Float32Array) => new Uint32Array(x.buffer, x.byteOffset, x.length);

/** The dequantized output equals the interpreter's qdq bit for bit. */
function expectQdq(out: string, t: Source, s: Scheme) {
  const f = openSafetensors(out);
  expect(f.info(t.name).dtype).toBe("F32");
  expect(f.info(t.name).shape).toEqual(t.shape);
  const got = f.readF32(t.name);
  const want = qdq(s, { dtype: "f32", shape: t.shape, data: t.values });
  f.close();
  expect(u32(got)).toEqual(u32(want));
}

function expectCopied(out: string, t: Source) {
  const f = openSafetensors(out);
  expect(f.info(t.name).dtype).toBe(t.dtype);
  expect(f.readBytes(t.name)).toEqual(t.bytes);
  f.close();
}

const f16Encode = codec(f16).encoder(NEAREST_EVEN, "propagate");

function f16Source(name: string, shape: number[], seed = 0): Source {
  const wide = awkward(
    shape.reduce((a, b) => a * b, 1),
    seed,
  );
  const bits = Uint16Array.from(wide, (v) => f16Encode(v, 0));
  const f16Decode = codec(f16);
  const values = Float32Array.from(bits, (b) => f16Decode.decode(b));
  return { name, dtype: "F16", shape, values, bytes: new Uint8Array(bits.buffer) };
}

const model = () => [
  f32Source("model.layers.0.self_attn.q_proj.weight", [130, 64], 1),
  bf16Source("model.layers.0.mlp.up_proj.weight", [32, 96], 2),
  f32Source("model.layers.0.input_layernorm.weight", [64], 3),
  f32Source("lm_head.weight", [16, 64], 4),
  f16Source("model.layers.0.self_attn.o_proj.weight", [16, 64], 5),
];

describe("quantize-model then dequantize-model equals the interpreter's qdq", () => {
  const cases: { layout: string; scheme: string; swizzle?: string; backend?: string }[] = [
    { layout: "modelopt", scheme: "nvfp4" },
    { layout: "modelopt", scheme: "nvfp4", swizzle: "nvidia-128x4" },
    { layout: "modelopt", scheme: "nvfp4", backend: "wasm" },
    { layout: "compressed-tensors", scheme: "nvfp4" },
    { layout: "compressed-tensors", scheme: "mxfp4", swizzle: "nvidia-128x4" },
    { layout: "qkc", scheme: "nvfp4" },
    { layout: "qkc", scheme: "mxfp4", swizzle: "nvidia-128x4" },
    { layout: "qkc", scheme: "mxfp6_e2m3" },
    { layout: "qkc", scheme: "mxfp8_e5m2" },
    { layout: "qkc", scheme: "nf4_dq" },
    { layout: "qkc", scheme: "int4_g128_asym" },
    { layout: "qkc", scheme: "int8_channel" },
  ];
  for (const c of cases)
    it(`${c.layout} ${c.scheme}${c.swizzle ? ` ${c.swizzle}` : ""}${c.backend ? ` (${c.backend})` : ""}`, async () => {
      const src = fresh("src");
      mkdirSync(src);
      const tensors = model();
      if (c.scheme === "int4_g128_asym")
        tensors.splice(1, 1, bf16Source("model.layers.0.mlp.up_proj.weight", [8, 256], 2));
      writeCheckpoint(join(src, "model.safetensors"), tensors);
      const q = fresh("q");
      const r = await ok(
        "quantize-model",
        src,
        "--scheme",
        c.scheme,
        "--layout",
        c.layout,
        "--exclude",
        "lm_head",
        "--swizzle",
        c.swizzle ?? "none",
        "--backend",
        c.backend ?? "interp",
        "--out",
        q,
      );
      expect(r.out).toMatch(new RegExp(`^${c.scheme} +3 `, "m"));
      expect(r.out).toMatch(/^copied +2 /m);
      const d = fresh("d");
      await ok("dequantize-model", q, "--backend", "interp", "--out", d);
      const out = join(d, "model.safetensors");
      const s = builtinScheme(c.scheme)!;
      expectQdq(out, tensors[0], s);
      expectQdq(out, tensors[1], s);
      expectCopied(out, tensors[2]);
      expectCopied(out, tensors[3]);
      expectQdq(out, tensors[4], s);
      expect(readdirSync(q).filter((f) => f.endsWith(".tmp"))).toEqual([]);
    });

  it("a sharded checkpoint (index.json) keeps its shards; --dtype bf16 rounds to nearest even", async () => {
    const src = fresh("src");
    mkdirSync(src);
    const [a, b, c, d] = model();
    writeCheckpoint(join(src, "model-00001-of-00002.safetensors"), [a, c]);
    writeCheckpoint(join(src, "model-00002-of-00002.safetensors"), [b, d]);
    const map = Object.fromEntries(
      [
        [a.name, 1],
        [c.name, 1],
        [b.name, 2],
        [d.name, 2],
      ].map(([t, k]) => [t, `model-0000${k}-of-00002.safetensors`]),
    );
    await writeIndex(src, map, 0);
    writeFileSync(join(src, "tokenizer.json"), "{}");
    const q = fresh("q");
    await ok(
      "quantize-model",
      join(src, "model.safetensors.index.json"),
      "--scheme",
      "nvfp4",
      "--layout",
      "modelopt",
      "--backend",
      "interp",
      "--out",
      q,
    );
    expect(readdirSync(q).sort()).toEqual([
      "hf_quant_config.json",
      "model-00001-of-00002.safetensors",
      "model-00002-of-00002.safetensors",
      "model.safetensors.index.json",
      "qkc-manifest.json",
      "tokenizer.json",
    ]);
    const index = JSON.parse(readFileSync(join(q, "model.safetensors.index.json"), "utf8"));
    expect(index.weight_map[`${b.name}_scale_2`]).toBe("model-00002-of-00002.safetensors");
    const dq = fresh("d");
    await ok("dequantize-model", q, "--dtype", "bf16", "--backend", "interp", "--out", dq);
    const f = openSafetensors(join(dq, "model-00002-of-00002.safetensors"));
    expect(f.info(b.name).dtype).toBe("BF16");
    const enc = codec(bf16).encoder(NEAREST_EVEN, "propagate");
    const want = Uint16Array.from(
      qdq(builtinScheme("nvfp4")!, { dtype: "f32", shape: b.shape, data: b.values }),
      (v) => enc(v, 0),
    );
    expect(new Uint16Array(f.readBytes(b.name).buffer)).toEqual(want);
    f.close();
  });

  it("--shard i/n runs joined by merge-shards equal one whole run, byte for byte", async () => {
    const src = fresh("src");
    mkdirSync(src);
    writeCheckpoint(join(src, "model.safetensors"), model());
    const whole = fresh("whole");
    await ok(
      "quantize-model",
      src,
      "--scheme",
      "nvfp4",
      "--layout",
      "compressed-tensors",
      "--backend",
      "interp",
      "--out",
      whole,
    );
    const shards = fresh("shards");
    for (const i of [2, 0]) {
      const r = await ok(
        "quantize-model",
        src,
        "--scheme",
        "nvfp4",
        "--layout",
        "compressed-tensors",
        "--backend",
        "interp",
        "--shard",
        `${i}/3`,
        "--out",
        shards,
      );
      expect(r.out).toMatch(new RegExp(`shard ${i}/3 written`));
    }
    const early = await run("merge-shards", shards, "--out", fresh("m"));
    expect(early.code).toBe(1);
    expect(early.err).toMatch(/shards 1\/3 are missing; run quantize-model --shard for them first/);
    const other = fresh("other");
    await ok(
      "quantize-model",
      src,
      "--scheme",
      "nvfp4",
      "--layout",
      "compressed-tensors",
      "--backend",
      "interp",
      "--shard",
      "1/3",
      "--out",
      other,
    );
    const merged = fresh("merged");
    await ok("merge-shards", shards, other, "--out", merged);
    for (const f of ["model.safetensors", "config.json", "qkc-manifest.json"])
      expect(readFileSync(join(merged, f)), f).toEqual(readFileSync(join(whole, f)));
    const clash = fresh("clash");
    await ok(
      "quantize-model",
      src,
      "--scheme",
      "mxfp4",
      "--layout",
      "compressed-tensors",
      "--backend",
      "interp",
      "--shard",
      "1/3",
      "--out",
      clash,
    );
    const bad = await run("merge-shards", shards, clash, "--out", fresh("m"));
    expect(bad.err).toMatch(/comes from another run/);
  });

  it("a per-tensor plan picks schemes by tensor name; the rest use --scheme", async () => {
    const src = fresh("src");
    mkdirSync(src);
    const tensors = model();
    writeCheckpoint(join(src, "model.safetensors"), tensors);
    const plan = join(src, "plan.qs");
    writeFileSync(
      plan,
      `// tensors: ${tensors[1].name}\nscheme up_b32 extends nvfp4 { block: 32 }\n`,
    );
    const q = fresh("q");
    const r = await ok(
      "quantize-model",
      src,
      "--per-tensor",
      plan,
      "--scheme",
      "mxfp4",
      "--layout",
      "qkc",
      "--include",
      "proj",
      "--backend",
      "interp",
      "--out",
      q,
    );
    expect(r.out).toMatch(/^mxfp4 +2 /m);
    expect(r.out).toMatch(/plan\.qs:up_b32 +1 /m);
    const d = fresh("d");
    await ok("dequantize-model", q, "--backend", "interp", "--out", d);
    expectQdq(join(d, "model.safetensors"), tensors[0], builtinScheme("mxfp4")!);
    expectQdq(join(d, "model.safetensors"), tensors[1], {
      ...builtinScheme("nvfp4")!,
      name: "up_b32",
      block: { kind: "axis", axis: -1, size: 32 },
    });
    expectCopied(join(d, "model.safetensors"), tensors[3]);
  });

  it("reads a ModelOpt folder without qkc's manifest (weight_scale_2 is the decode scale)", async () => {
    const src = fresh("src");
    mkdirSync(src);
    const tensors = model();
    writeCheckpoint(join(src, "model.safetensors"), tensors);
    const q = fresh("q");
    await ok(
      "quantize-model",
      src,
      "--scheme",
      "nvfp4",
      "--layout",
      "modelopt",
      "--exclude",
      "lm_head",
      "--backend",
      "interp",
      "--out",
      q,
    );
    const foreign = fresh("foreign");
    mkdirSync(foreign);
    for (const f of ["model.safetensors", "hf_quant_config.json"])
      copyFileSync(join(q, f), join(foreign, f));
    const d = fresh("d");
    await ok("dequantize-model", foreign, "--backend", "interp", "--out", d);
    expectQdq(join(d, "model.safetensors"), tensors[0], builtinScheme("nvfp4")!);
    expectCopied(join(d, "model.safetensors"), tensors[3]);
  });
});

describe("compressed-tensors folders made elsewhere", () => {
  it("dequantize with decode = fl32(1 / global_scale), within one ulp of qkc's contract", async () => {
    const src = fresh("src");
    mkdirSync(src);
    const tensors = model();
    writeCheckpoint(join(src, "model.safetensors"), tensors);
    const q = fresh("q");
    await ok("quantize-model", src, "--scheme", "nvfp4", "--backend", "interp", "--out", q);
    const foreign = fresh("foreign");
    mkdirSync(foreign);
    for (const f of ["model.safetensors", "config.json"])
      copyFileSync(join(q, f), join(foreign, f));
    const d = fresh("d");
    await ok("dequantize-model", foreign, "--backend", "interp", "--out", d);
    const f = openSafetensors(join(d, "model.safetensors"));
    for (const t of [tensors[0], tensors[1]]) {
      const got = f.readF32(t.name);
      const want = qdq(builtinScheme("nvfp4")!, { dtype: "f32", shape: t.shape, data: t.values });
      for (let i = 0; i < got.length; i++)
        if (!(Number.isNaN(got[i]) && Number.isNaN(want[i])))
          expect(Math.abs(got[i] - want[i])).toBeLessThanOrEqual(Math.abs(want[i]) * 2 ** -23);
    }
    f.close();
  });
});

describe("layouts byte by byte on a hand-checked tensor", () => {
  // E2M1 codes of row0: 1 -2 .5 3 6 -6 0 4 1.5 -1 2 -3 -.5 0 -4 -1.5
  const row0 = [1, -2, 0.5, 3, 6, -6, 0, 4, 1.5, -1, 2, -3, -0.5, 0, -4, -1.5];
  const packed = [0xc2, 0x51, 0xf7, 0x60, 0xa3, 0xd4, 0x09, 0xbe];
  // NVFP4: tensor amax 6, S_enc = 2688 / 6 = 448; row 0 block scale 6 * 448 / 6 = 448 (E4M3 0x7E),
  // row 1 (= row 0 / 2) block scale 224 (0x76); x * S_enc / S_b gives the same codes in both rows.
  const nvfp4Rows = [...row0, ...row0.map((v) => v / 2)];
  const decodeBytes = [0x25, 0x49, 0x12, 0x3b]; // fl32(6 / 2688) = 0.0022321429
  const encodeBytes = [0x00, 0x00, 0xe0, 0x43]; // 448

  async function quantized(values: number[], shape: number[], ...args: string[]) {
    const src = fresh("src");
    mkdirSync(src);
    writeCheckpoint(join(src, "model.safetensors"), [
      {
        name: "w.weight",
        dtype: "F32",
        shape,
        values: Float32Array.from(values),
        bytes: new Uint8Array(Float32Array.from(values).buffer),
      },
    ]);
    const q = fresh("q");
    await ok("quantize-model", src, "--backend", "interp", ...args, "--out", q);
    const f = openSafetensors(join(q, "model.safetensors"));
    const t = (name: string) => ({
      dtype: f.info(name).dtype,
      shape: f.info(name).shape,
      bytes: [...f.readBytes(name)],
    });
    const names = f.tensors.map((x) => x.name);
    return { t, names, dir: q, close: () => f.close() };
  }

  it("modelopt NVFP4", async () => {
    const r = await quantized(nvfp4Rows, [2, 16], "--scheme", "nvfp4", "--layout", "modelopt");
    expect(r.names).toEqual(["w.weight", "w.weight_scale", "w.weight_scale_2"]);
    expect(r.t("w.weight")).toEqual({ dtype: "U8", shape: [2, 8], bytes: [...packed, ...packed] });
    expect(r.t("w.weight_scale")).toEqual({ dtype: "F8_E4M3", shape: [2, 1], bytes: [0x7e, 0x76] });
    expect(r.t("w.weight_scale_2")).toEqual({ dtype: "F32", shape: [], bytes: decodeBytes });
    r.close();
    const config = JSON.parse(readFileSync(join(r.dir, "hf_quant_config.json"), "utf8"));
    expect(config.quantization).toEqual({
      quant_algo: "NVFP4",
      kv_cache_quant_algo: null,
      group_size: 16,
      exclude_modules: [],
    });
  });

  it("modelopt NVFP4 with the nvidia-128x4 swizzle: scale (r, 0) at byte 16 r of a 128x4 tile", async () => {
    const r = await quantized(
      nvfp4Rows,
      [2, 16],
      "--scheme",
      "nvfp4",
      "--layout",
      "modelopt",
      "--swizzle",
      "nvidia-128x4",
    );
    const s = r.t("w.weight_scale");
    expect(s.shape).toEqual([128, 4]);
    const want = new Array(512).fill(0);
    want[0] = 0x7e;
    want[16] = 0x76;
    expect(s.bytes).toEqual(want);
    r.close();
  });

  it("compressed-tensors NVFP4: the global scale is the encode multiplier", async () => {
    const r = await quantized(
      nvfp4Rows,
      [2, 16],
      "--scheme",
      "nvfp4",
      "--layout",
      "compressed-tensors",
    );
    expect(r.names).toEqual(["w.weight_packed", "w.weight_scale", "w.weight_global_scale"]);
    expect(r.t("w.weight_packed")).toEqual({
      dtype: "U8",
      shape: [2, 8],
      bytes: [...packed, ...packed],
    });
    expect(r.t("w.weight_scale")).toEqual({ dtype: "F8_E4M3", shape: [2, 1], bytes: [0x7e, 0x76] });
    expect(r.t("w.weight_global_scale")).toEqual({ dtype: "F32", shape: [1], bytes: encodeBytes });
    r.close();
    const qc = JSON.parse(readFileSync(join(r.dir, "config.json"), "utf8")).quantization_config;
    expect(qc.format).toBe("nvfp4-pack-quantized");
    expect(qc.config_groups.group_0.weights).toMatchObject({
      num_bits: 4,
      type: "float",
      group_size: 16,
      strategy: "tensor_group",
    });
  });

  it("compressed-tensors MXFP4: E8M0 scale bytes, no global scale", async () => {
    // row 0 amax 6: floor(log2 6) - 2 = 0, scale byte 127; row 1 amax 3: scale 2^-1, byte 126
    const r = await quantized(
      [...row0, ...row0, ...row0.map((v) => v / 2), ...row0.map((v) => v / 2)],
      [2, 32],
      "--scheme",
      "mxfp4",
      "--layout",
      "compressed-tensors",
    );
    expect(r.names).toEqual(["w.weight_packed", "w.weight_scale"]);
    expect(r.t("w.weight_packed").bytes).toEqual([...packed, ...packed, ...packed, ...packed]);
    expect(r.t("w.weight_scale")).toEqual({ dtype: "U8", shape: [2, 1], bytes: [0x7f, 0x7e] });
    r.close();
    const qc = JSON.parse(readFileSync(join(r.dir, "config.json"), "utf8")).quantization_config;
    expect(qc.format).toBe("mxfp4-pack-quantized");
  });

  it("qkc NVFP4: codes, scales and (amax, encode, decode)", async () => {
    const r = await quantized(nvfp4Rows, [2, 16], "--scheme", "nvfp4", "--layout", "qkc");
    expect(r.names).toEqual(["w.weight_codes", "w.weight_scales", "w.weight_tensor_scale"]);
    expect(r.t("w.weight_codes")).toEqual({
      dtype: "U8",
      shape: [2, 8],
      bytes: [...packed, ...packed],
    });
    expect(r.t("w.weight_scales")).toEqual({
      dtype: "F8_E4M3",
      shape: [2, 1],
      bytes: [0x7e, 0x76],
    });
    expect(r.t("w.weight_tensor_scale").bytes).toEqual([
      0x00,
      0x00,
      0xc0,
      0x40,
      ...encodeBytes,
      ...decodeBytes,
    ]);
    r.close();
    const m = JSON.parse(readFileSync(join(r.dir, "qkc-manifest.json"), "utf8"));
    expect(m.layout).toBe("qkc");
    expect(m.schemes.nvfp4.name).toBe("nvfp4");
    expect(m.source.sha256).toMatch(/^[0-9a-f]{64}$/);
  });
});

describe("quantize-model refuses what a layout cannot hold", () => {
  it("each a one-line error, nothing written", async () => {
    const src = fresh("src");
    mkdirSync(src);
    writeCheckpoint(join(src, "model.safetensors"), [f32Source("a.weight", [4, 24])]);
    const cases: [string[], RegExp][] = [
      [
        ["--scheme", "mxfp4", "--layout", "modelopt"],
        /a\.weight: scheme 'mxfp4' is not NVFP4; the modelopt layout stores NVFP4 only/,
      ],
      [["--scheme", "nf4", "--layout", "compressed-tensors"], /neither NVFP4 nor MXFP4/],
      [["--scheme", "nvfp4"], /rows of 24 values, not a multiple of the block 16; exclude it/],
      [["--scheme", "nvfp4", "--exclude", "(("], /--exclude '\(\(': not a regular expression/],
      [["--scheme", "nvfp4", "--shard", "3/3"], /--shard '3\/3': use i\/n with 0 <= i < n/],
      [[], /no scheme given; pass --scheme NAME or --per-tensor plan.qs/],
      [["--scheme", "nvfp9"], /unknown scheme 'nvfp9'/],
    ];
    for (const [args, message] of cases) {
      const out = fresh("out");
      const r = await run("quantize-model", src, ...args, "--out", out);
      expect(r.code, args.join(" ")).toBe(1);
      expect(r.err).toMatch(message);
      expect(r.err.trimEnd().split("\n")).toHaveLength(1);
      expect(existsSync(out)).toBe(false);
    }
    const self = await run(
      "quantize-model",
      src,
      "--scheme",
      "nvfp4",
      "--include",
      "x",
      "--out",
      src,
    );
    expect(self.err).toMatch(
      /would overwrite the input model\.safetensors; write to another folder/,
    );
    expect(readdirSync(src)).toEqual(["model.safetensors"]);
  });
});
