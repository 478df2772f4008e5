import { expect, it } from "vitest";
import { fuzz } from "./fuzz/qs-fuzz.js";

it("the front end never throws and every diagnostic has a location (3000 random and mutated sources)", () => {
  const r = fuzz(3000, 20261122);
  expect(r.failures.slice(0, 3)).toEqual([]);
  expect(r.withErrors).toBeGreaterThan(1000); // the generator does produce bad input
  expect(r.withErrors).toBeLessThan(3000); // and some that still checks
});
