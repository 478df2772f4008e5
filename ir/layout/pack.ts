/**
 * Sub-byte packing of element codes. The bit order is a named field because
 * libraries disagree (SEMANTICS.md section 5); qkc never assumes one.
 */

/** Where element 2i goes within its byte for 4-bit codes. */
export type NibbleOrder =
  /** element 2i in bits 0-3, 2i+1 in bits 4-7 (torchao, TE, ModelOpt, PTX cvt e2m1x2) */
  | "low_first"
  /** element 2i in bits 4-7 (bitsandbytes) */
  | "high_first";

export function packNibbles(
  codes: ArrayLike<number>,
  order: NibbleOrder = "low_first",
): Uint8Array {
  const out = new Uint8Array(Math.ceil(codes.length / 2));
  for (let i = 0; i < codes.length; i++) {
    const nibble = codes[i] & 0xf;
    const high = (i % 2 === 1) === (order === "low_first");
    out[i >> 1] |= high ? nibble << 4 : nibble;
  }
  return out;
}

export function unpackNibbles(
  bytes: Uint8Array,
  count: number,
  order: NibbleOrder = "low_first",
): Uint8Array {
  const out = new Uint8Array(count);
  for (let i = 0; i < count; i++) {
    const high = (i % 2 === 1) === (order === "low_first");
    out[i] = high ? bytes[i >> 1] >> 4 : bytes[i >> 1] & 0xf;
  }
  return out;
}

/**
 * 6-bit codes, 4 per 3 bytes: code i occupies bits [6i, 6i + 6) of the
 * little-endian bit stream (least significant bit first).
 */
export function pack6(codes: ArrayLike<number>): Uint8Array {
  const out = new Uint8Array(Math.ceil((codes.length * 6) / 8));
  for (let i = 0; i < codes.length; i++) {
    const bit = i * 6;
    const v = (codes[i] & 0x3f) << (bit % 8);
    out[bit >> 3] |= v & 0xff;
    if (v > 0xff) out[(bit >> 3) + 1] |= v >> 8;
  }
  return out;
}

export function unpack6(bytes: Uint8Array, count: number): Uint8Array {
  const out = new Uint8Array(count);
  for (let i = 0; i < count; i++) {
    const bit = i * 6;
    const word = bytes[bit >> 3] | ((bytes[(bit >> 3) + 1] ?? 0) << 8);
    out[i] = (word >> (bit % 8)) & 0x3f;
  }
  return out;
}
