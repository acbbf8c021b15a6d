import { mixSeed, Rng } from '../util/rng';

/** A procedurally drawn face with the labels it was drawn for. */
export interface SyntheticFace {
  /** side x side grayscale pixels, row-major. */
  pixels: Uint8Array;
  side: number;
  age: number;
  gender: number;
  race: number;
}

/**
 * Draws face number `index` of the generated set: background, hair, head, brows, eyes
 * with pupils, nose, mouth and a lighting gradient, each varied in shape, position and
 * shade, all from (seed, index). The layout follows aligned face crops (eyes at about
 * 40% of the height) so the occlusion masks land where they do on real faces.
 */
export function drawSyntheticFace(seed: number, index: number, side = 128): SyntheticFace {
  const rng = new Rng(mixSeed(seed, index, 0xface));
  const c = new Canvas(side);
  const gender = rng.int(0, 1);
  const age = rng.int(1, 90);
  const race = rng.int(0, 4);
  const skin = rng.uniform(70, 215);
  const hairShade = age > 60 ? rng.uniform(170, 235) : rng.uniform(15, 140);
  const background = rng.uniform(30, 235);

  c.fill(background);
  c.gradient(rng.uniform(-25, 25), rng.uniform(-25, 25));

  const cx = 0.5 + rng.uniform(-0.03, 0.03);
  const cy = 0.53 + rng.uniform(-0.03, 0.03);
  const rx = rng.uniform(0.27, 0.34);
  const ry = rng.uniform(0.37, 0.45);
  const longHair = gender === 1 ? rng.next() < 0.8 : rng.next() < 0.15;
  if (longHair) c.ellipse(cx, cy + 0.05, rx * 1.25, ry * 1.15, hairShade);
  c.ellipse(cx - rx * 0.98, cy, 0.045, 0.08, skin * 0.9); // ears
  c.ellipse(cx + rx * 0.98, cy, 0.045, 0.08, skin * 0.9);
  c.ellipse(cx, cy, rx, ry, skin);
  // Hair cap: the top of a slightly larger ellipse, cut at the hairline.
  const hairline = cy - ry * rng.uniform(0.45, 0.7);
  c.ellipse(cx, cy - ry * 0.1, rx * 1.06, ry * 1.0, hairShade, (y) => y < hairline);

  const eyeY = 0.4 + rng.uniform(-0.02, 0.02);
  const eyeDx = rng.uniform(0.13, 0.17);
  const eyeW = rng.uniform(0.045, 0.065);
  const eyeH = eyeW * rng.uniform(0.4, 0.65);
  const gazeX = rng.uniform(-0.4, 0.4) * eyeW;
  const browLift = rng.uniform(0.05, 0.08);
  const browTilt = rng.uniform(-0.02, 0.02);
  const browShade = Math.min(hairShade, skin * 0.5);
  for (const dir of [-1, 1]) {
    const ex = cx + dir * eyeDx;
    c.ellipse(ex, eyeY, eyeW, eyeH, Math.min(250, skin + 60));
    c.ellipse(ex + gazeX, eyeY, eyeH * 0.8, eyeH * 0.8, rng.uniform(20, 90));
    c.ellipse(ex + gazeX, eyeY, eyeH * 0.35, eyeH * 0.35, 10);
    c.line(ex - eyeW, eyeY - browLift + dir * browTilt, ex + eyeW, eyeY - browLift - dir * browTilt, 0.012, browShade);
  }

  const noseTip = eyeY + rng.uniform(0.15, 0.2);
  c.line(cx, eyeY + 0.04, cx + rng.uniform(-0.015, 0.015), noseTip, 0.01, skin * 0.75);
  c.ellipse(cx, noseTip, rng.uniform(0.03, 0.045), 0.018, skin * 0.65);

  const mouthY = noseTip + rng.uniform(0.09, 0.13);
  const mouthW = rng.uniform(0.07, 0.11);
  const smile = rng.uniform(-0.02, 0.04);
  c.curve(cx - mouthW, mouthY, cx, mouthY + smile, cx + mouthW, mouthY, rng.uniform(0.008, 0.016), skin * rng.uniform(0.45, 0.7));
  if (gender === 0 && age > 18 && rng.next() < 0.3) c.ellipse(cx, mouthY + 0.08, rx * 0.6, 0.07, hairShade * 0.8 + skin * 0.2);

  c.gradient(rng.uniform(-20, 20), rng.uniform(-10, 10));
  return { pixels: c.toBytes(), side, age, gender, race };
}

// A float canvas in [0, 255] with anti-aliased shapes; coordinates are fractions of the side.
class Canvas {
  private readonly px: Float32Array;

  constructor(readonly side: number) {
    this.px = new Float32Array(side * side);
  }

  fill(shade: number): void {
    this.px.fill(shade);
  }

  /** Adds a linear lighting ramp: +dx at the right edge, +dy at the bottom, centred on 0. */
  gradient(dx: number, dy: number): void {
    const s = this.side;
    for (let y = 0; y < s; y++) for (let x = 0; x < s; x++) this.px[y * s + x] += dx * (x / s - 0.5) + dy * (y / s - 0.5);
  }

  ellipse(cx: number, cy: number, rx: number, ry: number, shade: number, clip?: (y: number) => boolean): void {
    const s = this.side;
    const [px, py, prx, pry] = [cx * s, cy * s, rx * s, ry * s];
    const edge = Math.min(prx, pry);
    for (let y = Math.max(0, Math.floor(py - pry - 1)); y <= Math.min(s - 1, Math.ceil(py + pry + 1)); y++) {
      if (clip && !clip(y / s)) continue;
      for (let x = Math.max(0, Math.floor(px - prx - 1)); x <= Math.min(s - 1, Math.ceil(px + prx + 1)); x++) {
        const d = Math.hypot((x + 0.5 - px) / prx, (y + 0.5 - py) / pry);
        this.blend(y * s + x, shade, (1 - d) * edge + 0.5);
      }
    }
  }

  line(x0: number, y0: number, x1: number, y1: number, width: number, shade: number): void {
    const s = this.side;
    const [ax, ay, bx, by, half] = [x0 * s, y0 * s, x1 * s, y1 * s, (width * s) / 2];
    const len2 = (bx - ax) ** 2 + (by - ay) ** 2 || 1;
    for (let y = Math.max(0, Math.floor(Math.min(ay, by) - half - 1)); y <= Math.min(s - 1, Math.ceil(Math.max(ay, by) + half + 1)); y++) {
      for (let x = Math.max(0, Math.floor(Math.min(ax, bx) - half - 1)); x <= Math.min(s - 1, Math.ceil(Math.max(ax, bx) + half + 1)); x++) {
        const t = Math.max(0, Math.min(1, ((x + 0.5 - ax) * (bx - ax) + (y + 0.5 - ay) * (by - ay)) / len2));
        const d = Math.hypot(x + 0.5 - (ax + t * (bx - ax)), y + 0.5 - (ay + t * (by - ay)));
        this.blend(y * s + x, shade, half - d + 0.5);
      }
    }
  }

  /** A quadratic Bézier stroke through (x0,y0), control (xc,yc), (x1,y1). */
  curve(x0: number, y0: number, xc: number, yc: number, x1: number, y1: number, width: number, shade: number): void {
    const at = (t: number): [number, number] => [
      (1 - t) ** 2 * x0 + 2 * (1 - t) * t * xc + t * t * x1,
      (1 - t) ** 2 * y0 + 2 * (1 - t) * t * yc + t * t * y1,
    ];
    const n = 12;
    for (let i = 0; i < n; i++) this.line(...at(i / n), ...at((i + 1) / n), width, shade);
  }

  toBytes(): Uint8Array {
    return Uint8Array.from(this.px, (v) => Math.max(0, Math.min(255, Math.round(v))));
  }

  private blend(i: number, shade: number, coverage: number): void {
    const a = Math.max(0, Math.min(1, coverage));
    if (a > 0) this.px[i] += (shade - this.px[i]) * a;
  }
}
