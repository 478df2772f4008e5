// qkc: kernel quantize_mxfp4_codes
struct QkcScalars {
  outer: i32,
  n: i32,
  inner: i32,
}
@group(0) @binding(0) var<uniform> qkc_scalars: QkcScalars;
@group(0) @binding(1) var<storage, read> x: array<f32>;
@group(0) @binding(2) var<storage, read_write> codes: array<atomic<u32>>;
@group(0) @binding(3) var<storage, read_write> scales: array<atomic<u32>>;
@group(0) @binding(4) var<storage, read> qkc_tables: array<u32>;

fn qkc_f32(bits: u32) -> f32 {
  return bitcast<f32>(bits);
}

@compute @workgroup_size(64)
fn quantize_mxfp4_codes(@builtin(workgroup_id) qkc_wid: vec3<u32>, @builtin(num_workgroups) qkc_nwg: vec3<u32>, @builtin(local_invocation_index) qkc_lid: u32) {
  let qkc_group = i32(qkc_wid.x + qkc_wid.y * qkc_nwg.x);
  let qkc_lead = qkc_group == 0i && qkc_lid == 0u;
  let outer: i32 = qkc_scalars.outer;
  let n: i32 = qkc_scalars.n;
  let inner: i32 = qkc_scalars.inner;
  // quantize mxfp4: e2m1 elements, blocks of 32 on axis -1, e8m0 floor scales
  let bsize_0: i32 = 32i;
  let nb_1: i32 = (((n + bsize_0) - 1i) / bsize_0);
  let qkc_count: i32 = ((max((outer - 0i), 0i) * max((nb_1 - 0i), 0i)) * max((inner - 0i), 0i));
  for (var qkc_k: i32 = 0i; qkc_k < 1i; qkc_k++) {
    let qkc_it: i32 = (qkc_group * 1i + qkc_k) * 64i + i32(qkc_lid);
    if (qkc_it >= qkc_count) {
      break;
    }
    let qkc_ext_0: i32 = max((outer - 0i), 0i);
    let qkc_ext_1: i32 = max((nb_1 - 0i), 0i);
    let qkc_ext_2: i32 = max((inner - 0i), 0i);
    let ii: i32 = (0i + (qkc_it - ((qkc_it / qkc_ext_2) * qkc_ext_2)));
    let qkc_q_2: i32 = (qkc_it / qkc_ext_2);
    let j: i32 = (0i + (qkc_q_2 - ((qkc_q_2 / qkc_ext_1) * qkc_ext_1)));
    let qkc_q_1: i32 = (qkc_q_2 / qkc_ext_1);
    let o: i32 = (0i + qkc_q_1);
    let bblk_2: i32 = ((((o * nb_1) + j) * inner) + ii);
    let blen_3: i32 = min(bsize_0, (n - (j * bsize_0)));
    let bbase_4: i32 = ((((o * n) + (j * bsize_0)) * inner) + ii);
    var bamax_5: f32 = 0f;
    var bmn_6: f32 = qkc_f32(0x7f800000u);
    var bmx_7: f32 = qkc_f32(0xff800000u);
    var bbad_8: bool = false;
    let qkc_end_0: i32 = blen_3;
    for (var t: i32 = 0i; t < qkc_end_0; t++) {
      let soff_9: i32 = (bbase_4 + (t * inner));
      let sx_10: f32 = x[soff_9];
      let sa_11: f32 = bitcast<f32>((bitcast<u32>(sx_10) & 2147483647u));
      let sfin_12: bool = (bitcast<u32>(sa_11) < 2139095040u);
      bbad_8 = (bbad_8 || (!sfin_12));
      bamax_5 = select(bamax_5, sa_11, (sfin_12 && qkc_gt(sa_11, bamax_5)));
      bmn_6 = select(bmn_6, sx_10, (sfin_12 && qkc_lt(sx_10, bmn_6)));
      bmx_7 = select(bmx_7, sx_10, (sfin_12 && qkc_gt(sx_10, bmx_7)));
    }
    let bamaxbits_13: u32 = bitcast<u32>(bamax_5);
    let bflog2_14: i32 = select((i32((bamaxbits_13 >> 23u)) - 127i), (i32(-118) - i32(countLeadingZeros(bamaxbits_13))), ((bamaxbits_13 >> 23u) == 0u));
    let bk_15: i32 = select(max((bflog2_14 - 2i), i32(-127)), i32(-127), (bamaxbits_13 == 0u));
    let bp2_16: f32 = select(select(bitcast<f32>((1u << (u32(u32(max((bk_15 + 149i), 0i))) & 31u))), bitcast<f32>((u32((bk_15 + 127i)) << 23u)), (bk_15 >= i32(-126))), qkc_f32(0x7f800000u), (bk_15 > 127i));
    let bscale_17: f32 = bp2_16;
    let bbits_18: u32 = bitcast<u32>(bscale_17);
    let bneg_19: bool = ((bbits_18 >> 31u) != 0u);
    let bab_20: u32 = (bbits_18 & 2147483647u);
    let be32_21: u32 = (bab_20 >> 23u);
    let bs_22: u32 = select(((bab_20 & 8388607u) | 8388608u), bab_20, (be32_21 == 0u));
    let blsb_23: i32 = select((i32(be32_21) - 150i), i32(-149), (be32_21 == 0u));
    let be_24: i32 = ((blsb_23 + 31i) - i32(countLeadingZeros(bs_22)));
    let beeff_25: i32 = max(min(be_24, 128i), i32(-127));
    let bd_26: i32 = ((beeff_25 - 0i) - blsb_23);
    let bdc_27: u32 = u32(min(max(bd_26, 0i), 31i));
    let bn_28: u32 = select((bs_22 >> (u32(bdc_27) & 31u)), (bs_22 << (u32(u32((0i - bd_26))) & 31u)), (bd_26 <= 0i));
    let brem_29: u32 = select((bs_22 & ((1u << (u32(bdc_27) & 31u)) - 1u)), 0u, (bd_26 <= 0i));
    let bcodelo_30: u32 = ((u32((beeff_25 + 126i)) * 1u) + bn_28);
    let bmag_31: u32 = (bcodelo_30 + u32(((bd_26 > 0i) && ((brem_29 > select((1u << (u32(u32(max((bd_26 - 1i), 0i))) & 31u)), 2147483648u, (bd_26 >= 32i))) || ((brem_29 == select((1u << (u32(u32(max((bd_26 - 1i), 0i))) & 31u)), 2147483648u, (bd_26 >= 32i))) && ((bcodelo_30 & 1u) != 0u))))));
    let bmag_32: u32 = select(bmag_31, 254u, ((be_24 > 127i) || (bmag_31 > 254u)));
    let bmag_33: u32 = select(bmag_32, 0u, (be_24 < i32(-127)));
    let bmag_34: u32 = select(bmag_33, 254u, (bab_20 == 2139095040u));
    let bcode_35: u32 = select(select(bmag_34, 0u, bneg_19), 255u, (bab_20 > 2139095040u));
    let bmult_36: f32 = qkc_div(1f, bscale_17);
    let bnanscale_37: bool = (bbad_8 || (bk_15 > 127i));
    let bscode_38: u32 = select(bcode_35, 255u, bnanscale_37);
    let bsvalue_39: f32 = select(bscale_17, qkc_f32(0x7fc00000u), bnanscale_37);
    let bsmult_40: f32 = select(bmult_36, qkc_f32(0x7fc00000u), bnanscale_37);
    let bszero_41: u32 = select(0u, 0u, bnanscale_37);
    atomicAnd(&scales[(bblk_2 >> 2u)], ~(0xffu << (u32((bblk_2 & 3i)) * 8u)));
    atomicOr(&scales[(bblk_2 >> 2u)], (bscode_38 & 0xffu) << (u32((bblk_2 & 3i)) * 8u));
    let qkc_end_1: i32 = blen_3;
    for (var t: i32 = 0i; t < qkc_end_1; t++) {
      let eoff_42: i32 = (bbase_4 + (t * inner));
      let ex_43: f32 = x[eoff_42];
      let ev_44: f32 = qkc_mul(ex_43, bsmult_40);
      var ememo_45: u32 = qkc_tables[((bitcast<u32>(ev_44) >> 16u) + 272u)];
      if ((ememo_45 == 65535u)) {
        let xbits_46: u32 = bitcast<u32>(ev_44);
        let xneg_47: bool = ((xbits_46 >> 31u) != 0u);
        let xab_48: u32 = (xbits_46 & 2147483647u);
        let xe32_49: u32 = (xab_48 >> 23u);
        let xs_50: u32 = select(((xab_48 & 8388607u) | 8388608u), xab_48, (xe32_49 == 0u));
        let xlsb_51: i32 = select((i32(xe32_49) - 150i), i32(-149), (xe32_49 == 0u));
        let xe_52: i32 = ((xlsb_51 + 31i) - i32(countLeadingZeros(xs_50)));
        let xeeff_53: i32 = max(min(xe_52, 3i), 0i);
        let xd_54: i32 = ((xeeff_53 - 1i) - xlsb_51);
        let xdc_55: u32 = u32(min(max(xd_54, 0i), 31i));
        let xn_56: u32 = select((xs_50 >> (u32(xdc_55) & 31u)), (xs_50 << (u32(u32((0i - xd_54))) & 31u)), (xd_54 <= 0i));
        let xrem_57: u32 = select((xs_50 & ((1u << (u32(xdc_55) & 31u)) - 1u)), 0u, (xd_54 <= 0i));
        let xcodelo_58: u32 = ((u32((xeeff_53 + 0i)) * 2u) + xn_56);
        let xmag_59: u32 = (xcodelo_58 + u32(((xd_54 > 0i) && ((xrem_57 > select((1u << (u32(u32(max((xd_54 - 1i), 0i))) & 31u)), 2147483648u, (xd_54 >= 32i))) || ((xrem_57 == select((1u << (u32(u32(max((xd_54 - 1i), 0i))) & 31u)), 2147483648u, (xd_54 >= 32i))) && ((xcodelo_58 & 1u) != 0u))))));
        let xmag_60: u32 = select(xmag_59, 7u, ((xe_52 > 2i) || (xmag_59 > 7u)));
        let xmag_61: u32 = select(xmag_60, 7u, (xab_48 == 2139095040u));
        let xcode_62: u32 = select(select(xmag_61, (xmag_61 + 8u), xneg_47), 0u, (xab_48 > 2139095040u));
        ememo_45 = xcode_62;
      }
      atomicAnd(&codes[(eoff_42 >> 2u)], ~(0xffu << (u32((eoff_42 & 3i)) * 8u)));
      atomicOr(&codes[(eoff_42 >> 2u)], (ememo_45 & 0xffu) << (u32((eoff_42 & 3i)) * 8u));
    }
  }
}

fn qkc_div(a: f32, b: f32) -> f32 {
  let ua = bitcast<u32>(a);
  let ub = bitcast<u32>(b);
  let sign = (ua ^ ub) & 0x80000000u;
  let xa = ua & 0x7fffffffu;
  let xb = ub & 0x7fffffffu;
  let nan = xa > 0x7f800000u || xb > 0x7f800000u || (xa == xb && (xa == 0u || xa == 0x7f800000u));
  if (nan) {
    return qkc_f32(0x7fc00000u);
  }
  if (xa == 0x7f800000u || xb == 0u) {
    return qkc_f32(sign | 0x7f800000u);
  }
  if (xa == 0u || xb == 0x7f800000u) {
    return qkc_f32(sign);
  }
  var ea = i32(xa >> 23u);
  var ma = xa & 0x7fffffu;
  if (ea == 0) {
    let s = countLeadingZeros(ma) - 8u;
    ma = ma << s;
    ea = 1 - i32(s);
  } else {
    ma = ma | 0x800000u;
  }
  var eb = i32(xb >> 23u);
  var mb = xb & 0x7fffffu;
  if (eb == 0) {
    let s = countLeadingZeros(mb) - 8u;
    mb = mb << s;
    eb = 1 - i32(s);
  } else {
    mb = mb | 0x800000u;
  }
  var e = ea - eb + 127;
  var rem = ma;
  if (rem < mb) {
    rem = rem << 1u;
    e = e - 1;
  }
  var q = 0u;
  for (var i = 0; i < 25; i++) {
    q = q << 1u;
    if (rem >= mb) {
      rem = rem - mb;
      q = q | 1u;
    }
    rem = rem << 1u;
  }
  if (e >= 255) {
    return qkc_f32(sign | 0x7f800000u);
  }
  var sticky = rem != 0u;
  if (e <= 0) {
    let sh = u32(1 - e);
    if (sh >= 26u) {
      sticky = sticky || q != 0u;
      q = 0u;
    } else {
      sticky = sticky || (q & ((1u << sh) - 1u)) != 0u;
      q = q >> sh;
    }
    e = 0;
  }
  var mant = q >> 1u;
  if ((q & 1u) != 0u && (sticky || (mant & 1u) != 0u)) {
    mant = mant + 1u;
  }
  let bits = select(u32(e - 1) << 23u, 0u, e == 0) + mant;
  return qkc_f32(sign | min(bits, 0x7f800000u));
}

fn qkc_tiny(u: u32) -> bool {
  return ((u & 0x7f800000u) == 0u) & ((u & 0x7fffffu) != 0u);
}

fn qkc_mulhi(a: u32, b: u32) -> u32 {
  let a0 = a & 0xffffu;
  let a1 = a >> 16u;
  let b0 = b & 0xffffu;
  let b1 = b >> 16u;
  let p01 = a0 * b1;
  let p10 = a1 * b0;
  let mid = ((a0 * b0) >> 16u) + (p01 & 0xffffu) + (p10 & 0xffffu);
  return a1 * b1 + (p01 >> 16u) + (p10 >> 16u) + (mid >> 16u);
}

fn qkc_unpack(x: u32) -> vec2<i32> {
  let sub = (x >> 23u) == 0u;
  let s = select(0u, countLeadingZeros(x) - 8u, sub);
  let m = select((x & 0x7fffffu) | 0x800000u, x << s, sub);
  return vec2<i32>(bitcast<i32>(m), select(i32(x >> 23u), 1i - i32(s), sub));
}

fn qkc_mul(a: f32, b: f32) -> f32 {
  var p = a * b;
  let ua = bitcast<u32>(a);
  let ub = bitcast<u32>(b);
  let zero = ((ua & 0x7fffffffu) == 0u) | ((ub & 0x7fffffffu) == 0u);
  if (qkc_tiny(ua) | qkc_tiny(ub) | (((bitcast<u32>(p) & 0x7f800000u) == 0u) & !zero)) {
    p = qkc_mul_bits(ua, ub);
  }
  return p;
}

// IEEE binary32 product rounded to nearest even, on the bits
fn qkc_mul_bits(ua: u32, ub: u32) -> f32 {
  let sign = (ua ^ ub) & 0x80000000u;
  let xa = ua & 0x7fffffffu;
  let xb = ub & 0x7fffffffu;
  let a = qkc_unpack(xa);
  let b = qkc_unpack(xb);
  // the 48-bit product's top 32 bits, the lower 16 folded into a sticky bit 0
  let ma = bitcast<u32>(a.x);
  let mb = bitcast<u32>(b.x);
  let lo = ma * mb;
  let q = (qkc_mulhi(ma, mb) << 16u) | (lo >> 16u) | select(0u, 1u, (lo & 0xffffu) != 0u);
  // keep 24 bits (7 or 8 dropped), more when the result is below the normal range
  let d0 = 8i - i32(countLeadingZeros(q));
  let e0 = a.y + b.y - 134i + d0;
  let e = max(e0, 0i);
  let d = d0 + select(0i, 1i - e0, e0 < 1i);
  let du = u32(min(d, 32i));
  let mant = select(q >> du, 0u, du == 32u);
  let rem = select(q & ((1u << du) - 1u), q, du == 32u);
  let half = 1u << (du - 1u);
  let up = (rem > half) | ((rem == half) & ((mant & 1u) != 0u));
  var bits = min(select(u32(e - 1i) << 23u, 0u, e == 0i) + mant + select(0u, 1u, up), 0x7f800000u);
  bits = select(bits, 0x7f800000u, e0 >= 255i);
  bits = select(bits, 0u, d >= 33i);
  // specials: zeros, infinities, NaN (0 * inf)
  bits = select(bits, 0u, (xa == 0u) | (xb == 0u));
  bits = select(bits, 0x7f800000u, (xa == 0x7f800000u) | (xb == 0x7f800000u));
  let nan = (xa > 0x7f800000u) | (xb > 0x7f800000u) | ((xa == 0x7f800000u) & (xb == 0u)) | ((xb == 0x7f800000u) & (xa == 0u));
  return qkc_f32(select(sign | bits, 0x7fc00000u, nan));
}

// an i32 in the order of the f32 values (non-NaN), -0 and +0 equal
fn qkc_key(x: f32) -> i32 {
  let u = bitcast<u32>(x);
  let m = i32(u & 0x7fffffffu);
  return select(m, -m, (u >> 31u) != 0u);
}

fn qkc_ordered(a: f32, b: f32) -> bool {
  return ((bitcast<u32>(a) & 0x7fffffffu) <= 0x7f800000u) & ((bitcast<u32>(b) & 0x7fffffffu) <= 0x7f800000u);
}

fn qkc_lt(a: f32, b: f32) -> bool {
  return qkc_ordered(a, b) & (qkc_key(a) < qkc_key(b));
}

fn qkc_le(a: f32, b: f32) -> bool {
  return qkc_ordered(a, b) & (qkc_key(a) <= qkc_key(b));
}

fn qkc_gt(a: f32, b: f32) -> bool {
  return qkc_ordered(a, b) & (qkc_key(a) > qkc_key(b));
}

fn qkc_ge(a: f32, b: f32) -> bool {
  return qkc_ordered(a, b) & (qkc_key(a) >= qkc_key(b));
}

fn qkc_eq(a: f32, b: f32) -> bool {
  return qkc_ordered(a, b) & (qkc_key(a) == qkc_key(b));
}

fn qkc_ne(a: f32, b: f32) -> bool {
  return !qkc_eq(a, b);
}

// qkc: kernel quantize_mxfp4_pack
struct QkcScalars {
  n: i32,
}
@group(0) @binding(0) var<uniform> qkc_scalars: QkcScalars;
@group(0) @binding(1) var<storage, read> codes: array<u32>;
@group(0) @binding(2) var<storage, read_write> packed: array<atomic<u32>>;

fn qkc_f32(bits: u32) -> f32 {
  return bitcast<f32>(bits);
}

@compute @workgroup_size(64)
fn quantize_mxfp4_pack(@builtin(workgroup_id) qkc_wid: vec3<u32>, @builtin(num_workgroups) qkc_nwg: vec3<u32>, @builtin(local_invocation_index) qkc_lid: u32) {
  let qkc_group = i32(qkc_wid.x + qkc_wid.y * qkc_nwg.x);
  let qkc_lead = qkc_group == 0i && qkc_lid == 0u;
  let n: i32 = qkc_scalars.n;
  let qkc_count: i32 = max((((n + 1i) / 2i) - 0i), 0i);
  for (var qkc_k: i32 = 0i; qkc_k < 1i; qkc_k++) {
    let qkc_it: i32 = (qkc_group * 1i + qkc_k) * 64i + i32(qkc_lid);
    if (qkc_it >= qkc_count) {
      break;
    }
    let qkc_ext_0: i32 = max((((n + 1i) / 2i) - 0i), 0i);
    let k: i32 = (0i + qkc_it);
    let pc0_0: u32 = select(0u, ((codes[(min((k * 2i), (n - 1i)) >> 2u)] >> (u32((u32((min((k * 2i), (n - 1i)) & 3i)) * 8u)) & 31u)) & 255u), ((k * 2i) < n));
    let pc1_1: u32 = select(0u, ((codes[(min(((k * 2i) + 1i), (n - 1i)) >> 2u)] >> (u32((u32((min(((k * 2i) + 1i), (n - 1i)) & 3i)) * 8u)) & 31u)) & 255u), (((k * 2i) + 1i) < n));
    atomicAnd(&packed[(k >> 2u)], ~(0xffu << (u32((k & 3i)) * 8u)));
    atomicOr(&packed[(k >> 2u)], (((pc0_0 & 15u) | ((pc1_1 & 15u) << 4u)) & 0xffu) << (u32((k & 3i)) * 8u));
  }
}
