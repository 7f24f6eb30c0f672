/**
 * Seeded, counter-based random numbers shared by the CPU and WGSL.
 *
 * A value is a pure function of (seed, stream, index), so the GPU (dropout,
 * augmentation) and the CPU reference draw bit-identical numbers, and a run
 * can be resumed without replaying generators.
 * @module
 */

/** Integer finaliser ("lowbias32"): a good 32-bit avalanche in 5 operations. */
export function mix32(x: number): number {
  let h = x >>> 0;
  h ^= h >>> 16;
  h = Math.imul(h, 0x7feb352d) >>> 0;
  h ^= h >>> 15;
  h = Math.imul(h, 0x846ca68b) >>> 0;
  h ^= h >>> 16;
  return h >>> 0;
}

/** 32 random bits for (seed, stream, index). */
export function hash3(seed: number, stream: number, index: number): number {
  return mix32((mix32((seed ^ mix32(stream)) >>> 0) + (index >>> 0)) >>> 0);
}

/** Uniform in [0, 1) with 24 bits, exactly representable in f32. */
export function uniform01(seed: number, stream: number, index: number): number {
  return (hash3(seed, stream, index) >>> 8) / 16777216;
}

/** WGSL twins of {@link mix32}, {@link hash3} and {@link uniform01}. */
export const WGSL_RNG = `fn rng_mix32(x: u32) -> u32 {
  var h = x;
  h ^= h >> 16u;
  h *= 0x7feb352du;
  h ^= h >> 15u;
  h *= 0x846ca68bu;
  h ^= h >> 16u;
  return h;
}
fn rng_hash3(seed: u32, stream: u32, index: u32) -> u32 {
  return rng_mix32(rng_mix32(seed ^ rng_mix32(stream)) + index);
}
fn rng_uniform01(seed: u32, stream: u32, index: u32) -> f32 {
  return f32(rng_hash3(seed, stream, index) >> 8u) / 16777216.0;
}
`;

/** A sequential generator over the counter stream, for CPU-side sampling. */
export class Rng {
  #counter = 0;
  /** Creates a generator for (seed, stream). */
  constructor(readonly seed: number, readonly stream = 0) {}

  /** Uniform in [0, 1). */
  next(): number {
    return uniform01(this.seed, this.stream, this.#counter++);
  }

  /** Standard normal (Box–Muller on two uniforms). */
  normal(): number {
    const u1 = 1 - this.next(); // (0, 1]: log stays finite
    const u2 = this.next();
    return Math.sqrt(-2 * Math.log(u1)) * Math.cos(2 * Math.PI * u2);
  }

  /** Integer in [0, n). */
  int(n: number): number {
    return Math.floor(this.next() * n);
  }

  /** Number of values drawn so far (the generator's state). */
  get position(): number {
    return this.#counter;
  }

  /** Restores a position returned by {@link position}. */
  set position(p: number) {
    this.#counter = p;
  }
}
