/** The Pareto front of error against storage: fewer bits per element and higher QSNR both win. */

export interface TradeOff {
  readonly bitsPerElement: number;
  readonly qsnrDb: number;
}

/** a dominates b: no worse on both axes and better on one */
export function dominates(a: TradeOff, b: TradeOff): boolean {
  return (
    a.bitsPerElement <= b.bitsPerElement &&
    a.qsnrDb >= b.qsnrDb &&
    (a.bitsPerElement < b.bitsPerElement || a.qsnrDb > b.qsnrDb)
  );
}

/**
 * The points no other point dominates, by increasing bits per element. Points
 * with a NaN QSNR (nothing compared) are never on the front; equal points are
 * all kept.
 */
export function paretoFront<T extends TradeOff>(points: readonly T[]): T[] {
  const sorted = points
    .filter((p) => !Number.isNaN(p.qsnrDb))
    .sort((a, b) => a.bitsPerElement - b.bitsPerElement || b.qsnrDb - a.qsnrDb);
  const front: T[] = [];
  for (const p of sorted) {
    const last = front.at(-1);
    if (!last || p.qsnrDb > last.qsnrDb || (p.qsnrDb === last.qsnrDb && p.bitsPerElement === last.bitsPerElement))
      front.push(p);
  }
  return front;
}
