import { badInput } from '../errors.js';
import { rng } from './random.js';

/** Outcome of comparing two systems' per-case values of one metric on the same cases. */
export interface PairedTest {
  /** mean(a) - mean(b). */
  delta: number;
  /** Two-sided p of the paired sign-flip randomization test. */
  pRandomization: number;
  /** Two-sided p of the paired t-test. */
  pTTest: number;
  /** Cases where the two differ (only these carry information). */
  differing: number;
}

function checkPaired(a: Float32Array, b: Float32Array): void {
  if (a.length !== b.length) {
    throw badInput(`a paired test needs the same cases for both systems; got ${a.length} and ${b.length} values`);
  }
}

/**
 * Paired randomization test: under H0 the sign of each per-case difference is a coin flip.
 * p = (1 + #{|sum of sign-flipped differences| >= |observed sum|}) / (1 + iterations), which
 * is never 0 and is exactly 1 for identical systems. Seeded, so reruns give the same p.
 * Metric differences repeat a few values (R@K: +-1), so a value seen m >= 32 times is flipped
 * as a whole: its flipped sum is value * (2 * popcount(m random bits) - m), the same law.
 */
export function pairedRandomizationTest(a: Float32Array, b: Float32Array, iterations = 10_000, seed = 1): number {
  checkPaired(a, b);
  const counts = new Map<number, number>();
  let observed = 0;
  let scale = 0;
  for (let i = 0; i < a.length; i++) {
    const d = a[i] - b[i];
    if (d === 0) continue; // a zero difference contributes the same under either sign
    counts.set(d, (counts.get(d) ?? 0) + 1);
    observed += d;
    scale += Math.abs(d);
  }
  const singles: number[] = [];
  const groupValues: number[] = [];
  const groupSizes: number[] = [];
  for (const [d, m] of counts) {
    if (m >= 32) {
      groupValues.push(d);
      groupSizes.push(m);
    } else for (let j = 0; j < m; j++) singles.push(d);
  }
  const single = Float64Array.from(singles);
  const threshold = Math.abs(observed) - 1e-9 * scale; // float slack: ties count as extreme
  const random = rng(seed);
  let extreme = 0;
  for (let it = 0; it < iterations; it++) {
    let sum = 0;
    for (let i = 0; i < single.length; i += 32) {
      let bits = random.uint32();
      const end = Math.min(single.length, i + 32);
      // Branch-free: random signs would defeat the branch predictor.
      for (let j = i; j < end; j++, bits >>>= 1) sum += single[j] * (((bits & 1) << 1) - 1);
    }
    for (let g = 0; g < groupValues.length; g++) {
      const m = groupSizes[g];
      let heads = 0;
      for (let left = m; left > 0; left -= 32) {
        const bits = random.uint32();
        heads += popcount(left >= 32 ? bits : bits & ((1 << left) - 1));
      }
      sum += groupValues[g] * (2 * heads - m);
    }
    if (Math.abs(sum) >= threshold) extreme++;
  }
  return (1 + extreme) / (1 + iterations);
}

function popcount(x: number): number {
  x -= (x >>> 1) & 0x55555555;
  x = (x & 0x33333333) + ((x >>> 2) & 0x33333333);
  return (Math.imul((x + (x >>> 4)) & 0x0f0f0f0f, 0x01010101) >>> 24) & 0xff;
}

/** Two-sided paired t-test on the per-case differences (df = n - 1). */
export function pairedTTest(a: Float32Array, b: Float32Array): number {
  checkPaired(a, b);
  const n = a.length;
  if (n < 2) return 1;
  let m = 0;
  for (let i = 0; i < n; i++) m += a[i] - b[i];
  m /= n;
  let ss = 0;
  for (let i = 0; i < n; i++) ss += (a[i] - b[i] - m) ** 2;
  const sd = Math.sqrt(ss / (n - 1));
  if (sd === 0) return m === 0 ? 1 : 0;
  const t = m / (sd / Math.sqrt(n));
  return studentTTwoSided(t, n - 1);
}

export function pairedTest(a: Float32Array, b: Float32Array, iterations = 10_000, seed = 1): PairedTest {
  checkPaired(a, b);
  let sa = 0;
  let sb = 0;
  let differing = 0;
  for (let i = 0; i < a.length; i++) {
    sa += a[i];
    sb += b[i];
    if (a[i] !== b[i]) differing++;
  }
  const n = Math.max(1, a.length);
  return {
    delta: (sa - sb) / n,
    pRandomization: pairedRandomizationTest(a, b, iterations, seed),
    pTTest: pairedTTest(a, b),
    differing,
  };
}

/** P(|T| >= |t|) for Student's t with df degrees of freedom. */
export function studentTTwoSided(t: number, df: number): number {
  if (!Number.isFinite(t)) return 0;
  return regularizedBeta(df / (df + t * t), df / 2, 0.5);
}

/** ln Gamma(x) for x > 0 (Lanczos, g = 7; about 15 significant digits). */
export function logGamma(x: number): number {
  const c = [
    0.9999999999998099, 676.5203681218851, -1259.1392167224028, 771.3234287776531, -176.6150291621406,
    12.507343278686905, -0.13857109526572012, 9.984369578019572e-6, 1.5056327351493116e-7,
  ];
  if (x < 0.5) return Math.log(Math.PI / Math.sin(Math.PI * x)) - logGamma(1 - x);
  x -= 1;
  let s = c[0];
  for (let i = 1; i < 9; i++) s += c[i] / (x + i);
  const t = x + 7.5;
  return 0.5 * Math.log(2 * Math.PI) + (x + 0.5) * Math.log(t) - t + Math.log(s);
}

/** I_x(a, b), the regularized incomplete beta function (continued fraction, Lentz). */
export function regularizedBeta(x: number, a: number, b: number): number {
  if (x <= 0) return 0;
  if (x >= 1) return 1;
  const front = Math.exp(logGamma(a + b) - logGamma(a) - logGamma(b) + a * Math.log(x) + b * Math.log(1 - x));
  // The continued fraction converges fast for x < (a+1)/(a+b+2); use the symmetry otherwise.
  if (x < (a + 1) / (a + b + 2)) return (front * betaFraction(x, a, b)) / a;
  return 1 - (front * betaFraction(1 - x, b, a)) / b;
}

function betaFraction(x: number, a: number, b: number): number {
  const tiny = 1e-300;
  let c = 1;
  let d = 1 - ((a + b) * x) / (a + 1);
  if (Math.abs(d) < tiny) d = tiny;
  d = 1 / d;
  let h = d;
  for (let m = 1; m <= 1000; m++) {
    const m2 = 2 * m;
    let aa = (m * (b - m) * x) / ((a + m2 - 1) * (a + m2));
    d = 1 + aa * d;
    if (Math.abs(d) < tiny) d = tiny;
    c = 1 + aa / c;
    if (Math.abs(c) < tiny) c = tiny;
    d = 1 / d;
    h *= d * c;
    aa = (-(a + m) * (a + b + m) * x) / ((a + m2) * (a + m2 + 1));
    d = 1 + aa * d;
    if (Math.abs(d) < tiny) d = tiny;
    c = 1 + aa / c;
    if (Math.abs(c) < tiny) c = tiny;
    d = 1 / d;
    const step = d * c;
    h *= step;
    if (Math.abs(step - 1) < 1e-15) break;
  }
  return h;
}
