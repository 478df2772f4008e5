/**
 * The shared equivalence corpus: tensors every backend must reproduce bit for
 * bit. Each case is [rows, cols] f32 with ragged blocks for every stdlib block
 * size, and one kind of hard input.
 */
export interface CorpusCase {
  name: string;
  rows: number;
  cols: number;
  data: Float32Array;
}

class Rng {
  constructor(private s: number) {}
  next(): number {
    this.s = (Math.imul(this.s ^ (this.s >>> 15), 0x2c1b3c6d) + 0x6d2b79f5) >>> 0;
    this.s = (this.s ^ (this.s >>> 12)) >>> 0;
    return (this.s + 0.5) / 2 ** 32;
  }
  normal(): number {
    return Math.sqrt(-2 * Math.log(this.next())) * Math.cos(2 * Math.PI * this.next());
  }
}

function make(
  name: string,
  rows: number,
  cols: number,
  gen: (r: Rng, i: number) => number,
  seed = 1,
): CorpusCase {
  const rng = new Rng(seed);
  return {
    name,
    rows,
    cols,
    data: Float32Array.from({ length: rows * cols }, (_, i) => gen(rng, i)),
  };
}

/** E2M1 / E4M3 / int tie points scaled into each block, exact halves and quarters */
const TIES = [
  0.25,
  0.75,
  1.25,
  1.75,
  2.5,
  3.5,
  5,
  6.5,
  7,
  0.5,
  1.5,
  0.0625,
  464,
  448,
  240.5,
  2 ** -10,
  1.5 * 2 ** -10,
];

export function corpus(): CorpusCase[] {
  const cols = 300; // ragged for blocks of 16, 32, 64, 128, 256
  const cases = [
    make("normal", 4, cols, (r) => r.normal()),
    make("laplace", 4, cols, (r) => -Math.log(r.next()) * (r.next() < 0.5 ? -1 : 1), 2),
    make(
      "student-t3",
      4,
      cols,
      (r) => r.normal() / Math.sqrt((r.normal() ** 2 + r.normal() ** 2 + r.normal() ** 2) / 3),
      3,
    ),
    make("block-scales", 4, cols, (r, i) => r.normal() * 2 ** ((Math.floor(i / 16) % 40) - 20), 4),
    make(
      "ties",
      4,
      cols,
      (r, i) =>
        TIES[i % TIES.length] * (i % 3 === 0 ? -1 : 1) * 2 ** ((Math.floor(i / 32) % 5) - 2),
      5,
    ),
    make("zeros", 2, cols, (r, i) => (i % 7 === 0 ? -0 : 0), 6),
    make("subnormal", 2, cols, (r) => r.normal() * 2 ** -130, 7),
    make("huge", 2, cols, (r) => r.normal() * 2 ** 120, 8),
    make("top", 2, cols, (r, i) => (i % 5 === 0 ? 3.4028234663852886e38 : r.normal() * 1e38), 9),
    make("outlier", 2, cols, (r, i) => (i % 97 === 0 ? 1000 : r.normal() * 0.01), 10),
  ];
  const special = make("nan-inf", 3, cols, (r) => r.normal(), 11);
  special.data[5] = NaN;
  special.data[40] = Infinity;
  special.data[cols + 70] = -Infinity;
  new Uint32Array(special.data.buffer)[2 * cols + 3] = 0xffc00001; // a NaN with sign and payload
  cases.push(special);
  cases.push(make("ragged", 3, 37, (r) => r.normal(), 12));
  cases.push(make("tiny-rows", 5, 1, (r) => r.normal(), 13));
  return cases;
}
