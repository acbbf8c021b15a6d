/** Per-pixel coverage in [0, 1] at a point given in fractions of the side; clips a shape softly. */
export type CoverageMask = (x: number, y: number) => number;

/** How a shape is painted over what is below it. */
export interface PaintOptions {
  /** 1 paints the shade over what is below; less lets the layer below show through. */
  opacity?: number;
  /** Limits the shape to where this returns more than 0 (e.g. above a hairline). */
  mask?: CoverageMask;
  /** Darkens an ellipse towards its rim by up to this fraction, so it reads as rounded. */
  rimShade?: number;
}

/**
 * A grayscale drawing surface with anti-aliased ellipses, lines and curves, used to draw
 * the generated faces. Shades are 0 (black) .. 255 (white); coordinates are fractions of
 * the side, so one drawing renders at any resolution.
 */
export class GrayCanvas {
  private readonly px: Float32Array;

  constructor(readonly side: number) {
    this.px = new Float32Array(side * side);
  }

  /** Paints every pixel one shade. */
  fill(shade: number): void {
    this.px.fill(shade);
  }

  /** Adds a linear lighting ramp: +dx at the right edge, +dy at the bottom, 0 at the centre. */
  gradient(dx: number, dy: number): void {
    const s = this.side;
    for (let y = 0; y < s; y++) for (let x = 0; x < s; x++) this.px[y * s + x] += dx * (x / s - 0.5) + dy * (y / s - 0.5);
  }

  /** A filled ellipse centred on (cx, cy) with radii (rx, ry). */
  ellipse(cx: number, cy: number, rx: number, ry: number, shade: number, options: PaintOptions = {}): void {
    const s = this.side;
    const [px, py, prx, pry] = [cx * s, cy * s, rx * s, ry * s];
    // (1 - d) * edge approximates the distance to the rim in pixels, for a one-pixel soft edge.
    const edge = Math.min(prx, pry);
    const { opacity = 1, mask, rimShade = 0 } = options;
    for (let y = Math.max(0, Math.floor(py - pry - 1)); y <= Math.min(s - 1, Math.ceil(py + pry + 1)); y++) {
      const dy = (y + 0.5 - py) / pry;
      for (let x = Math.max(0, Math.floor(px - prx - 1)); x <= Math.min(s - 1, Math.ceil(px + prx + 1)); x++) {
        const dx = (x + 0.5 - px) / prx;
        const d2 = dx * dx + dy * dy;
        if (d2 > 4) continue;
        let coverage = ((1 - Math.sqrt(d2)) * edge + 0.5) * opacity;
        if (coverage <= 0) continue;
        if (mask) coverage *= mask((x + 0.5) / s, (y + 0.5) / s);
        this.blend(y * s + x, rimShade ? shade * (1 - rimShade * d2 * d2) : shade, coverage);
      }
    }
  }

  /** A straight stroke of the given width with round ends. */
  line(x0: number, y0: number, x1: number, y1: number, width: number, shade: number, opacity = 1): void {
    const s = this.side;
    const [ax, ay, bx, by, half] = [x0 * s, y0 * s, x1 * s, y1 * s, (width * s) / 2];
    const [vx, vy] = [bx - ax, by - ay];
    const len2 = vx * vx + vy * vy || 1;
    for (let y = Math.max(0, Math.floor(Math.min(ay, by) - half - 1)); y <= Math.min(s - 1, Math.ceil(Math.max(ay, by) + half + 1)); y++) {
      for (let x = Math.max(0, Math.floor(Math.min(ax, bx) - half - 1)); x <= Math.min(s - 1, Math.ceil(Math.max(ax, bx) + half + 1)); x++) {
        const t = Math.max(0, Math.min(1, ((x + 0.5 - ax) * vx + (y + 0.5 - ay) * vy) / len2));
        const ex = x + 0.5 - (ax + t * vx);
        const ey = y + 0.5 - (ay + t * vy);
        this.blend(y * s + x, shade, (half - Math.sqrt(ex * ex + ey * ey) + 0.5) * opacity);
      }
    }
  }

  /** A quadratic Bézier stroke from (x0, y0) through control (xc, yc) to (x1, y1). */
  curve(x0: number, y0: number, xc: number, yc: number, x1: number, y1: number, width: number, shade: number): void {
    const at = (t: number): [number, number] => [
      (1 - t) ** 2 * x0 + 2 * (1 - t) * t * xc + t * t * x1,
      (1 - t) ** 2 * y0 + 2 * (1 - t) * t * yc + t * t * y1,
    ];
    const n = 10;
    for (let i = 0; i < n; i++) this.line(...at(i / n), ...at((i + 1) / n), width, shade);
  }

  /** Softens the whole image with a separable [1 2 1] / 4 blur, like a camera's slight defocus. */
  soften(): void {
    const s = this.side;
    const tmp = new Float32Array(this.px.length);
    for (let y = 0; y < s; y++) {
      for (let x = 0; x < s; x++) {
        const i = y * s + x;
        tmp[i] = (this.px[x > 0 ? i - 1 : i] + 2 * this.px[i] + this.px[x < s - 1 ? i + 1 : i]) / 4;
      }
    }
    for (let y = 0; y < s; y++) {
      for (let x = 0; x < s; x++) {
        const i = y * s + x;
        this.px[i] = (tmp[y > 0 ? i - s : i] + 2 * tmp[i] + tmp[y < s - 1 ? i + s : i]) / 4;
      }
    }
  }

  /** The image as bytes, rounded and clamped to 0..255. */
  toBytes(): Uint8Array {
    // A clamped array rounds and clamps on assignment; a plain one would wrap 256 to 0.
    const out = new Uint8ClampedArray(this.px.length);
    out.set(this.px);
    return new Uint8Array(out.buffer);
  }

  private blend(i: number, shade: number, coverage: number): void {
    if (coverage <= 0) return;
    const a = coverage < 1 ? coverage : 1;
    this.px[i] += (shade - this.px[i]) * a;
  }
}
