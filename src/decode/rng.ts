// Seeded pseudo-random numbers for sampling. xoshiro128** (Blackman and Vigna, 2018) keeps 128 bits of
// state in four 32-bit words, which JavaScript computes exactly with Math.imul and `>>> 0`. The seed is
// expanded into the state with splitmix32, so nearby seeds give unrelated streams.

/** xoshiro128** generator. The same seed always gives the same sequence, on every platform. */
export class Rng {
  private s0: number;
  private s1: number;
  private s2: number;
  private s3: number;

  /** Reduces `seed` to 32 bits. Without a seed, the seed comes from Math.random. */
  constructor(seed?: number) {
    let x = (seed === undefined ? Math.floor(Math.random() * 0x1_0000_0000) : Math.trunc(seed)) >>> 0;

    // splitmix32: each call advances x by the golden-ratio increment and mixes it.
    const next = (): number => {
      x = (x + 0x9e3779b9) >>> 0;
      let z = x;
      z = Math.imul(z ^ (z >>> 16), 0x85ebca6b);
      z = Math.imul(z ^ (z >>> 13), 0xc2b2ae35);
      return (z ^ (z >>> 16)) >>> 0;
    };
    this.s0 = next();
    this.s1 = next();
    this.s2 = next();
    this.s3 = next();
    // An all-zero state would stay zero forever.
    if ((this.s0 | this.s1 | this.s2 | this.s3) === 0) this.s0 = 1;
  }

  /** Returns the next unsigned 32-bit integer. */
  nextUint32(): number {
    const result = Math.imul(rotl(Math.imul(this.s1, 5), 7), 9) >>> 0;
    const t = this.s1 << 9;
    this.s2 ^= this.s0;
    this.s3 ^= this.s1;
    this.s1 ^= this.s2;
    this.s0 ^= this.s3;
    this.s2 ^= t;
    this.s3 = rotl(this.s3, 11);
    return result;
  }

  /** Returns a double uniform in [0, 1) with 53 random bits. */
  nextFloat(): number {
    const high = this.nextUint32() >>> 5;  // 27 bits
    const low = this.nextUint32() >>> 6;   // 26 bits
    return (high * 67108864 + low) / 9007199254740992;  // (high * 2^26 + low) / 2^53
  }
}

function rotl(x: number, k: number): number {
  return (x << k) | (x >>> (32 - k));
}
