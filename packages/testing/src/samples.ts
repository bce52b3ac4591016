/** Measurements kept whole, so that percentiles are exact rather than read off a histogram. */
export class Samples {
  #values = new Float64Array(1 << 16);
  #count = 0;

  get count(): number {
    return this.#count;
  }

  add(value: number): void {
    if (this.#count === this.#values.length) {
      const grown = new Float64Array(this.#values.length * 2);
      grown.set(this.#values);
      this.#values = grown;
    }
    this.#values[this.#count++] = value;
  }

  /** Nearest-rank percentiles, e.g. `percentiles(50, 99)`; NaN for each when there are no samples. */
  percentiles(...ps: number[]): number[] {
    if (this.#count === 0) return ps.map(() => Number.NaN);
    const sorted = this.#values.slice(0, this.#count).sort();
    return ps.map(
      (p) => sorted[Math.min(this.#count - 1, Math.max(0, Math.ceil((p / 100) * this.#count) - 1))] as number,
    );
  }

  /** The largest sample; NaN when there are none. */
  max(): number {
    let max = Number.NaN;
    for (let i = 0; i < this.#count; i++) {
      const value = this.#values[i] as number;
      if (!(value <= max)) max = value;
    }
    return max;
  }
}
