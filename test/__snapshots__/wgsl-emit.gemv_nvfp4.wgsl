// qkc: kernel gemv_nvfp4
struct QkcScalars {
  N: i32,
  K: i32,
}
@group(0) @binding(0) var<uniform> qkc_scalars: QkcScalars;
@group(0) @binding(1) var<storage, read> codes: array<u32>;
@group(0) @binding(2) var<storage, read> scales: array<u32>;
@group(0) @binding(3) var<storage, read> tscale: array<f32>;
@group(0) @binding(4) var<storage, read> x: array<f32>;
@group(0) @binding(5) var<storage, read_write> y: array<f32>;
@group(0) @binding(6) var<storage, read> qkc_tables: array<u32>;

fn qkc_f32(bits: u32) -> f32 {
  return bitcast<f32>(bits);
}

@compute @workgroup_size(64)
fn gemv_nvfp4(@builtin(workgroup_id) qkc_wid: vec3<u32>, @builtin(num_workgroups) qkc_nwg: vec3<u32>, @builtin(local_invocation_index) qkc_lid: u32) {
  let qkc_group = i32(qkc_wid.x + qkc_wid.y * qkc_nwg.x);
  let qkc_lead = qkc_group == 0i && qkc_lid == 0u;
  let N: i32 = qkc_scalars.N;
  let K: i32 = qkc_scalars.K;
  // gemv nvfp4: y = W x, 16 lane accumulators in element order, halves folded
  let bsize_0: i32 = 16i;
  let nb_1: i32 = (((K + bsize_0) - 1i) / bsize_0);
  let dscale_2: f32 = tscale[2i];
  let qkc_count: i32 = max((N - 0i), 0i);
  for (var qkc_k: i32 = 0i; qkc_k < 1i; qkc_k++) {
    let qkc_it: i32 = (qkc_group * 1i + qkc_k) * 64i + i32(qkc_lid);
    if (qkc_it >= qkc_count) {
      break;
    }
    let qkc_ext_0: i32 = max((N - 0i), 0i);
    let n: i32 = (0i + qkc_it);
    var racc0_3: f32 = 0f;
    var racc1_4: f32 = 0f;
    var racc2_5: f32 = 0f;
    var racc3_6: f32 = 0f;
    var racc4_7: f32 = 0f;
    var racc5_8: f32 = 0f;
    var racc6_9: f32 = 0f;
    var racc7_10: f32 = 0f;
    var racc8_11: f32 = 0f;
    var racc9_12: f32 = 0f;
    var racc10_13: f32 = 0f;
    var racc11_14: f32 = 0f;
    var racc12_15: f32 = 0f;
    var racc13_16: f32 = 0f;
    var racc14_17: f32 = 0f;
    var racc15_18: f32 = 0f;
    let qkc_end_0: i32 = ((K + 15i) / 16i);
    for (var kb: i32 = 0i; kb < qkc_end_0; kb++) {
      let ck_19: i32 = ((kb * 16i) + 0i);
      if ((ck_19 < K)) {
        let lat_20: i32 = ((n * K) + ck_19);
        let lblk_21: i32 = ((n * nb_1) + (ck_19 / bsize_0));
        let ls_22: f32 = bitcast<f32>(qkc_tables[(((scales[(lblk_21 >> 2u)] >> (u32((u32((lblk_21 & 3i)) * 8u)) & 31u)) & 255u) + 16u)]);
        let lcode_23: u32 = ((((codes[((lat_20 >> 1u) >> 2u)] >> (u32((u32(((lat_20 >> 1u) & 3i)) * 8u)) & 31u)) & 255u) >> (u32(u32(((lat_20 & 1i) << 2u))) & 31u)) & 15u);
        let lw_24: f32 = qkc_mul(qkc_mul(bitcast<f32>(qkc_tables[(lcode_23 + 0u)]), ls_22), dscale_2);
        let lp_25: f32 = qkc_mul(lw_24, x[ck_19]);
        racc0_3 = qkc_add(racc0_3, lp_25);
      }
      let ck_26: i32 = ((kb * 16i) + 1i);
      if ((ck_26 < K)) {
        let lat_27: i32 = ((n * K) + ck_26);
        let lblk_28: i32 = ((n * nb_1) + (ck_26 / bsize_0));
        let ls_29: f32 = bitcast<f32>(qkc_tables[(((scales[(lblk_28 >> 2u)] >> (u32((u32((lblk_28 & 3i)) * 8u)) & 31u)) & 255u) + 16u)]);
        let lcode_30: u32 = ((((codes[((lat_27 >> 1u) >> 2u)] >> (u32((u32(((lat_27 >> 1u) & 3i)) * 8u)) & 31u)) & 255u) >> (u32(u32(((lat_27 & 1i) << 2u))) & 31u)) & 15u);
        let lw_31: f32 = qkc_mul(qkc_mul(bitcast<f32>(qkc_tables[(lcode_30 + 0u)]), ls_29), dscale_2);
        let lp_32: f32 = qkc_mul(lw_31, x[ck_26]);
        racc1_4 = qkc_add(racc1_4, lp_32);
      }
      let ck_33: i32 = ((kb * 16i) + 2i);
      if ((ck_33 < K)) {
        let lat_34: i32 = ((n * K) + ck_33);
        let lblk_35: i32 = ((n * nb_1) + (ck_33 / bsize_0));
        let ls_36: f32 = bitcast<f32>(qkc_tables[(((scales[(lblk_35 >> 2u)] >> (u32((u32((lblk_35 & 3i)) * 8u)) & 31u)) & 255u) + 16u)]);
        let lcode_37: u32 = ((((codes[((lat_34 >> 1u) >> 2u)] >> (u32((u32(((lat_34 >> 1u) & 3i)) * 8u)) & 31u)) & 255u) >> (u32(u32(((lat_34 & 1i) << 2u))) & 31u)) & 15u);
        let lw_38: f32 = qkc_mul(qkc_mul(bitcast<f32>(qkc_tables[(lcode_37 + 0u)]), ls_36), dscale_2);
        let lp_39: f32 = qkc_mul(lw_38, x[ck_33]);
        racc2_5 = qkc_add(racc2_5, lp_39);
      }
      let ck_40: i32 = ((kb * 16i) + 3i);
      if ((ck_40 < K)) {
        let lat_41: i32 = ((n * K) + ck_40);
        let lblk_42: i32 = ((n * nb_1) + (ck_40 / bsize_0));
        let ls_43: f32 = bitcast<f32>(qkc_tables[(((scales[(lblk_42 >> 2u)] >> (u32((u32((lblk_42 & 3i)) * 8u)) & 31u)) & 255u) + 16u)]);
        let lcode_44: u32 = ((((codes[((lat_41 >> 1u) >> 2u)] >> (u32((u32(((lat_41 >> 1u) & 3i)) * 8u)) & 31u)) & 255u) >> (u32(u32(((lat_41 & 1i) << 2u))) & 31u)) & 15u);
        let lw_45: f32 = qkc_mul(qkc_mul(bitcast<f32>(qkc_tables[(lcode_44 + 0u)]), ls_43), dscale_2);
        let lp_46: f32 = qkc_mul(lw_45, x[ck_40]);
        racc3_6 = qkc_add(racc3_6, lp_46);
      }
      let ck_47: i32 = ((kb * 16i) + 4i);
      if ((ck_47 < K)) {
        let lat_48: i32 = ((n * K) + ck_47);
        let lblk_49: i32 = ((n * nb_1) + (ck_47 / bsize_0));
        let ls_50: f32 = bitcast<f32>(qkc_tables[(((scales[(lblk_49 >> 2u)] >> (u32((u32((lblk_49 & 3i)) * 8u)) & 31u)) & 255u) + 16u)]);
        let lcode_51: u32 = ((((codes[((lat_48 >> 1u) >> 2u)] >> (u32((u32(((lat_48 >> 1u) & 3i)) * 8u)) & 31u)) & 255u) >> (u32(u32(((lat_48 & 1i) << 2u))) & 31u)) & 15u);
        let lw_52: f32 = qkc_mul(qkc_mul(bitcast<f32>(qkc_tables[(lcode_51 + 0u)]), ls_50), dscale_2);
        let lp_53: f32 = qkc_mul(lw_52, x[ck_47]);
        racc4_7 = qkc_add(racc4_7, lp_53);
      }
      let ck_54: i32 = ((kb * 16i) + 5i);
      if ((ck_54 < K)) {
        let lat_55: i32 = ((n * K) + ck_54);
        let lblk_56: i32 = ((n * nb_1) + (ck_54 / bsize_0));
        let ls_57: f32 = bitcast<f32>(qkc_tables[(((scales[(lblk_56 >> 2u)] >> (u32((u32((lblk_56 & 3i)) * 8u)) & 31u)) & 255u) + 16u)]);
        let lcode_58: u32 = ((((codes[((lat_55 >> 1u) >> 2u)] >> (u32((u32(((lat_55 >> 1u) & 3i)) * 8u)) & 31u)) & 255u) >> (u32(u32(((lat_55 & 1i) << 2u))) & 31u)) & 15u);
        let lw_59: f32 = qkc_mul(qkc_mul(bitcast<f32>(qkc_tables[(lcode_58 + 0u)]), ls_57), dscale_2);
        let lp_60: f32 = qkc_mul(lw_59, x[ck_54]);
        racc5_8 = qkc_add(racc5_8, lp_60);
      }
      let ck_61: i32 = ((kb * 16i) + 6i);
      if ((ck_61 < K)) {
        let lat_62: i32 = ((n * K) + ck_61);
        let lblk_63: i32 = ((n * nb_1) + (ck_61 / bsize_0));
        let ls_64: f32 = bitcast<f32>(qkc_tables[(((scales[(lblk_63 >> 2u)] >> (u32((u32((lblk_63 & 3i)) * 8u)) & 31u)) & 255u) + 16u)]);
        let lcode_65: u32 = ((((codes[((lat_62 >> 1u) >> 2u)] >> (u32((u32(((lat_62 >> 1u) & 3i)) * 8u)) & 31u)) & 255u) >> (u32(u32(((lat_62 & 1i) << 2u))) & 31u)) & 15u);
        let lw_66: f32 = qkc_mul(qkc_mul(bitcast<f32>(qkc_tables[(lcode_65 + 0u)]), ls_64), dscale_2);
        let lp_67: f32 = qkc_mul(lw_66, x[ck_61]);
        racc6_9 = qkc_add(racc6_9, lp_67);
      }
      let ck_68: i32 = ((kb * 16i) + 7i);
      if ((ck_68 < K)) {
        let lat_69: i32 = ((n * K) + ck_68);
        let lblk_70: i32 = ((n * nb_1) + (ck_68 / bsize_0));
        let ls_71: f32 = bitcast<f32>(qkc_tables[(((scales[(lblk_70 >> 2u)] >> (u32((u32((lblk_70 & 3i)) * 8u)) & 31u)) & 255u) + 16u)]);
        let lcode_72: u32 = ((((codes[((lat_69 >> 1u) >> 2u)] >> (u32((u32(((lat_69 >> 1u) & 3i)) * 8u)) & 31u)) & 255u) >> (u32(u32(((lat_69 & 1i) << 2u))) & 31u)) & 15u);
        let lw_73: f32 = qkc_mul(qkc_mul(bitcast<f32>(qkc_tables[(lcode_72 + 0u)]), ls_71), dscale_2);
        let lp_74: f32 = qkc_mul(lw_73, x[ck_68]);
        racc7_10 = qkc_add(racc7_10, lp_74);
      }
      let ck_75: i32 = ((kb * 16i) + 8i);
      if ((ck_75 < K)) {
        let lat_76: i32 = ((n * K) + ck_75);
        let lblk_77: i32 = ((n * nb_1) + (ck_75 / bsize_0));
        let ls_78: f32 = bitcast<f32>(qkc_tables[(((scales[(lblk_77 >> 2u)] >> (u32((u32((lblk_77 & 3i)) * 8u)) & 31u)) & 255u) + 16u)]);
        let lcode_79: u32 = ((((codes[((lat_76 >> 1u) >> 2u)] >> (u32((u32(((lat_76 >> 1u) & 3i)) * 8u)) & 31u)) & 255u) >> (u32(u32(((lat_76 & 1i) << 2u))) & 31u)) & 15u);
        let lw_80: f32 = qkc_mul(qkc_mul(bitcast<f32>(qkc_tables[(lcode_79 + 0u)]), ls_78), dscale_2);
        let lp_81: f32 = qkc_mul(lw_80, x[ck_75]);
        racc8_11 = qkc_add(racc8_11, lp_81);
      }
      let ck_82: i32 = ((kb * 16i) + 9i);
      if ((ck_82 < K)) {
        let lat_83: i32 = ((n * K) + ck_82);
        let lblk_84: i32 = ((n * nb_1) + (ck_82 / bsize_0));
        let ls_85: f32 = bitcast<f32>(qkc_tables[(((scales[(lblk_84 >> 2u)] >> (u32((u32((lblk_84 & 3i)) * 8u)) & 31u)) & 255u) + 16u)]);
        let lcode_86: u32 = ((((codes[((lat_83 >> 1u) >> 2u)] >> (u32((u32(((lat_83 >> 1u) & 3i)) * 8u)) & 31u)) & 255u) >> (u32(u32(((lat_83 & 1i) << 2u))) & 31u)) & 15u);
        let lw_87: f32 = qkc_mul(qkc_mul(bitcast<f32>(qkc_tables[(lcode_86 + 0u)]), ls_85), dscale_2);
        let lp_88: f32 = qkc_mul(lw_87, x[ck_82]);
        racc9_12 = qkc_add(racc9_12, lp_88);
      }
      let ck_89: i32 = ((kb * 16i) + 10i);
      if ((ck_89 < K)) {
        let lat_90: i32 = ((n * K) + ck_89);
        let lblk_91: i32 = ((n * nb_1) + (ck_89 / bsize_0));
        let ls_92: f32 = bitcast<f32>(qkc_tables[(((scales[(lblk_91 >> 2u)] >> (u32((u32((lblk_91 & 3i)) * 8u)) & 31u)) & 255u) + 16u)]);
        let lcode_93: u32 = ((((codes[((lat_90 >> 1u) >> 2u)] >> (u32((u32(((lat_90 >> 1u) & 3i)) * 8u)) & 31u)) & 255u) >> (u32(u32(((lat_90 & 1i) << 2u))) & 31u)) & 15u);
        let lw_94: f32 = qkc_mul(qkc_mul(bitcast<f32>(qkc_tables[(lcode_93 + 0u)]), ls_92), dscale_2);
        let lp_95: f32 = qkc_mul(lw_94, x[ck_89]);
        racc10_13 = qkc_add(racc10_13, lp_95);
      }
      let ck_96: i32 = ((kb * 16i) + 11i);
      if ((ck_96 < K)) {
        let lat_97: i32 = ((n * K) + ck_96);
        let lblk_98: i32 = ((n * nb_1) + (ck_96 / bsize_0));
        let ls_99: f32 = bitcast<f32>(qkc_tables[(((scales[(lblk_98 >> 2u)] >> (u32((u32((lblk_98 & 3i)) * 8u)) & 31u)) & 255u) + 16u)]);
        let lcode_100: u32 = ((((codes[((lat_97 >> 1u) >> 2u)] >> (u32((u32(((lat_97 >> 1u) & 3i)) * 8u)) & 31u)) & 255u) >> (u32(u32(((lat_97 & 1i) << 2u))) & 31u)) & 15u);
        let lw_101: f32 = qkc_mul(qkc_mul(bitcast<f32>(qkc_tables[(lcode_100 + 0u)]), ls_99), dscale_2);
        let lp_102: f32 = qkc_mul(lw_101, x[ck_96]);
        racc11_14 = qkc_add(racc11_14, lp_102);
      }
      let ck_103: i32 = ((kb * 16i) + 12i);
      if ((ck_103 < K)) {
        let lat_104: i32 = ((n * K) + ck_103);
        let lblk_105: i32 = ((n * nb_1) + (ck_103 / bsize_0));
        let ls_106: f32 = bitcast<f32>(qkc_tables[(((scales[(lblk_105 >> 2u)] >> (u32((u32((lblk_105 & 3i)) * 8u)) & 31u)) & 255u) + 16u)]);
        let lcode_107: u32 = ((((codes[((lat_104 >> 1u) >> 2u)] >> (u32((u32(((lat_104 >> 1u) & 3i)) * 8u)) & 31u)) & 255u) >> (u32(u32(((lat_104 & 1i) << 2u))) & 31u)) & 15u);
        let lw_108: f32 = qkc_mul(qkc_mul(bitcast<f32>(qkc_tables[(lcode_107 + 0u)]), ls_106), dscale_2);
        let lp_109: f32 = qkc_mul(lw_108, x[ck_103]);
        racc12_15 = qkc_add(racc12_15, lp_109);
      }
      let ck_110: i32 = ((kb * 16i) + 13i);
      if ((ck_110 < K)) {
        let lat_111: i32 = ((n * K) + ck_110);
        let lblk_112: i32 = ((n * nb_1) + (ck_110 / bsize_0));
        let ls_113: f32 = bitcast<f32>(qkc_tables[(((scales[(lblk_112 >> 2u)] >> (u32((u32((lblk_112 & 3i)) * 8u)) & 31u)) & 255u) + 16u)]);
        let lcode_114: u32 = ((((codes[((lat_111 >> 1u) >> 2u)] >> (u32((u32(((lat_111 >> 1u) & 3i)) * 8u)) & 31u)) & 255u) >> (u32(u32(((lat_111 & 1i) << 2u))) & 31u)) & 15u);
        let lw_115: f32 = qkc_mul(qkc_mul(bitcast<f32>(qkc_tables[(lcode_114 + 0u)]), ls_113), dscale_2);
        let lp_116: f32 = qkc_mul(lw_115, x[ck_110]);
        racc13_16 = qkc_add(racc13_16, lp_116);
      }
      let ck_117: i32 = ((kb * 16i) + 14i);
      if ((ck_117 < K)) {
        let lat_118: i32 = ((n * K) + ck_117);
        let lblk_119: i32 = ((n * nb_1) + (ck_117 / bsize_0));
        let ls_120: f32 = bitcast<f32>(qkc_tables[(((scales[(lblk_119 >> 2u)] >> (u32((u32((lblk_119 & 3i)) * 8u)) & 31u)) & 255u) + 16u)]);
        let lcode_121: u32 = ((((codes[((lat_118 >> 1u) >> 2u)] >> (u32((u32(((lat_118 >> 1u) & 3i)) * 8u)) & 31u)) & 255u) >> (u32(u32(((lat_118 & 1i) << 2u))) & 31u)) & 15u);
        let lw_122: f32 = qkc_mul(qkc_mul(bitcast<f32>(qkc_tables[(lcode_121 + 0u)]), ls_120), dscale_2);
        let lp_123: f32 = qkc_mul(lw_122, x[ck_117]);
        racc14_17 = qkc_add(racc14_17, lp_123);
      }
      let ck_124: i32 = ((kb * 16i) + 15i);
      if ((ck_124 < K)) {
        let lat_125: i32 = ((n * K) + ck_124);
        let lblk_126: i32 = ((n * nb_1) + (ck_124 / bsize_0));
        let ls_127: f32 = bitcast<f32>(qkc_tables[(((scales[(lblk_126 >> 2u)] >> (u32((u32((lblk_126 & 3i)) * 8u)) & 31u)) & 255u) + 16u)]);
        let lcode_128: u32 = ((((codes[((lat_125 >> 1u) >> 2u)] >> (u32((u32(((lat_125 >> 1u) & 3i)) * 8u)) & 31u)) & 255u) >> (u32(u32(((lat_125 & 1i) << 2u))) & 31u)) & 15u);
        let lw_129: f32 = qkc_mul(qkc_mul(bitcast<f32>(qkc_tables[(lcode_128 + 0u)]), ls_127), dscale_2);
        let lp_130: f32 = qkc_mul(lw_129, x[ck_124]);
        racc15_18 = qkc_add(racc15_18, lp_130);
      }
    }
    racc0_3 = qkc_add(racc0_3, racc8_11);
    racc1_4 = qkc_add(racc1_4, racc9_12);
    racc2_5 = qkc_add(racc2_5, racc10_13);
    racc3_6 = qkc_add(racc3_6, racc11_14);
    racc4_7 = qkc_add(racc4_7, racc12_15);
    racc5_8 = qkc_add(racc5_8, racc13_16);
    racc6_9 = qkc_add(racc6_9, racc14_17);
    racc7_10 = qkc_add(racc7_10, racc15_18);
    racc0_3 = qkc_add(racc0_3, racc4_7);
    racc1_4 = qkc_add(racc1_4, racc5_8);
    racc2_5 = qkc_add(racc2_5, racc6_9);
    racc3_6 = qkc_add(racc3_6, racc7_10);
    racc0_3 = qkc_add(racc0_3, racc2_5);
    racc1_4 = qkc_add(racc1_4, racc3_6);
    racc0_3 = qkc_add(racc0_3, racc1_4);
    y[n] = select(racc0_3, qkc_f32(0x7fc00000u), ((bitcast<u32>(racc0_3) & 2147483647u) > 2139095040u));
  }
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

fn qkc_add(a: f32, b: f32) -> f32 {
  var s = a + b;
  let ua = bitcast<u32>(a);
  let ub = bitcast<u32>(b);
  let exact = ((bitcast<u32>(s) & 0x7f800000u) != 0u) | ((ua ^ ub) == 0x80000000u) | (((ua | ub) & 0x7fffffffu) == 0u);
  if (qkc_tiny(ua) | qkc_tiny(ub) | !exact) {
    s = qkc_add_bits(ua, ub, s);
  }
  return s;
}

// a + b when an operand is subnormal or the sum is below the normal range; s: the engine's sum
fn qkc_add_bits(ua: u32, ub: u32, s: f32) -> f32 {
  let ea = (ua >> 23u) & 0xffu;
  let eb = (ub >> 23u) & 0xffu;
  // both below 2^-27: scaled by 2^64 they are normal and add exactly in hardware
  let t = bitcast<u32>(qkc_up64(ua) + qkc_up64(ub));
  let et = (t >> 23u) & 0xffu;
  // below the normal range the sum is a multiple of 2^-149, exact after the shift
  let m = select((t & 0x7fffffu) | 0x800000u, 0u, et == 0u);
  let small = (t & 0x80000000u) | (m >> ((65u - et) & 31u));
  var r = select(small, t - (64u << 23u), et > 64u);
  // a subnormal next to an exponent this large is below half its ulp
  r = select(r, select(ub, ua, (ua & 0x7fffffffu) > (ub & 0x7fffffffu)), max(ea, eb) >= 100u);
  // infinities and NaN: the engine's sum
  return select(qkc_f32(r), s, (ea == 255u) | (eb == 255u));
}

// x * 2^64 for |x| < 2^-27, exact, on the bits (subnormals become normal)
fn qkc_up64(u: u32) -> f32 {
  let p = qkc_unpack(u & 0x7fffffffu);
  let up = (u & 0x80000000u) | (bitcast<u32>(p.y + 64i) << 23u) | (bitcast<u32>(p.x) & 0x7fffffu);
  return qkc_f32(select(up, u, (u & 0x7fffffffu) == 0u));
}

fn qkc_sub(a: f32, b: f32) -> f32 {
  return qkc_add(a, qkc_f32(bitcast<u32>(b) ^ 0x80000000u));
}
