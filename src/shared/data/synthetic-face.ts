import { mixSeed, Rng } from '../util/rng';
import { GrayCanvas } from './gray-canvas';

/** A procedurally drawn face with the labels it was drawn for (UTKFace coding). */
export interface SyntheticFace {
  /** side x side grayscale pixels, row-major. */
  pixels: Uint8Array;
  side: number;
  age: number;
  gender: number;
  race: number;
}

/** Height of the eye line as a fraction of the image, as in UTKFace's aligned crops. */
export const SYNTHETIC_EYE_LINE = 0.4;

/**
 * Draws face number `index` of the generated set: background, hair, neck, head, ears,
 * brows, eyes with irises and pupils, nose, mouth, and for some a beard or wrinkles, under
 * a lighting gradient. Each part varies in shape, position, size and shade, and the
 * expression (gaze, brow tilt, smile, open mouth) varies too, all from (seed, index). Age
 * and gender shape the drawing (grey hair, child proportions, wrinkles; long hair, beard);
 * race is drawn uniformly and only labels the file. The layout follows aligned face crops
 * (eyes at about 40% of the height) so the occlusion masks land where they do on real faces.
 */
export function drawSyntheticFace(seed: number, index: number, side = 128): SyntheticFace {
  const rng = new Rng(mixSeed(seed, index, 0xface));
  const gender = rng.int(0, 1);
  const age = rng.int(1, 90);
  const race = rng.int(0, 4);
  const skin = rng.uniform(75, 215);
  const hair = age > 55 && rng.next() < 0.7 ? rng.uniform(165, 235) : rng.uniform(12, 130);
  const person: Person = { gender, age, child: age < 13, skin, hair };
  const c = new GrayCanvas(side);

  c.fill(rng.uniform(25, 235));
  c.gradient(rng.uniform(-40, 40), rng.uniform(-30, 30));
  const head = drawHead(c, rng, person);
  drawHair(c, rng, person, head);
  const eyeY = drawEyes(c, rng, person, head);
  const noseTip = drawNose(c, rng, person, head, eyeY);
  drawMouth(c, rng, person, head, noseTip + rng.uniform(0.08, 0.12) * (person.child ? 0.85 : 1));
  c.gradient(rng.uniform(-30, 30), rng.uniform(-15, 15));
  c.soften();
  return { pixels: c.toBytes(), side, age, gender, race };
}

interface Person {
  gender: number;
  age: number;
  child: boolean;
  skin: number;
  hair: number;
}

/** The head ellipse, in fractions of the side. */
interface Head {
  cx: number;
  cy: number;
  rx: number;
  ry: number;
}

// Long hair behind, neck, shoulders, ears, the face oval and, past fifty, forehead lines.
function drawHead(c: GrayCanvas, rng: Rng, p: Person): Head {
  const cx = 0.5 + rng.uniform(-0.03, 0.03);
  const cy = 0.52 + rng.uniform(-0.025, 0.025);
  const rx = rng.uniform(0.27, 0.33) * (p.child ? 1.06 : 1);
  const ry = rng.uniform(0.36, 0.43) * (p.child ? 0.95 : 1);
  if (rng.next() < (p.gender === 1 ? 0.8 : 0.12)) {
    c.ellipse(cx, cy + rng.uniform(0.02, 0.1), rx * rng.uniform(1.2, 1.4), ry * rng.uniform(1.05, 1.25), p.hair, { rimShade: 0.2 });
  }
  c.ellipse(cx, cy + ry * 0.9, rx * 0.5, ry * 0.45, p.skin * 0.78);
  c.ellipse(cx, 1.08, rx * 1.9, 0.16, rng.uniform(20, 230), { rimShade: 0.2 });
  for (const dir of [-1, 1]) c.ellipse(cx + dir * rx * 0.97, cy + 0.01, 0.04, 0.075, p.skin * 0.88, { rimShade: 0.2 });
  c.ellipse(cx, cy, rx, ry, p.skin, { rimShade: 0.22 });
  if (p.age > 50) {
    for (let k = 0; k < 3; k++) {
      const wy = cy - ry * (0.42 + 0.08 * k);
      c.line(cx - rx * 0.45, wy, cx + rx * 0.45, wy + rng.uniform(-0.01, 0.01), 0.007, p.skin * 0.75, (p.age - 40) / 80);
    }
  }
  return { cx, cy, rx, ry };
}

// The hair cap: a larger ellipse kept above a hairline that dips towards the temples.
function drawHair(c: GrayCanvas, rng: Rng, p: Person, { cx, cy, rx, ry }: Head): void {
  if (p.gender === 0 && p.age > 40 && rng.next() < 0.25) return;
  const hairline = cy - ry * rng.uniform(0.62, 0.82);
  const dip = rng.uniform(0.4, 1.4);
  const part = rng.uniform(-0.25, 0.25);
  const mask = (x: number, y: number) => Math.min(1, Math.max(0, (hairline + dip * (x - cx - part * rx) ** 2 - y) * c.side + 0.5));
  c.ellipse(cx, cy - ry * 0.06, rx * 1.07, ry * 1.02, p.hair, { mask, rimShade: 0.15 });
}

// Eye sockets, whites, irises, pupils, upper lids and brows; returns the eye line.
function drawEyes(c: GrayCanvas, rng: Rng, p: Person, { cx }: Head): number {
  const eyeY = SYNTHETIC_EYE_LINE + rng.uniform(-0.02, 0.02);
  const eyeDx = rng.uniform(0.12, 0.16);
  const eyeW = rng.uniform(0.045, 0.06) * (p.child ? 1.15 : 1);
  const eyeH = eyeW * rng.uniform(0.42, 0.62);
  const gazeX = rng.uniform(-0.35, 0.35) * eyeW;
  const iris = rng.uniform(25, 110);
  const browGap = rng.uniform(0.045, 0.07);
  const browTilt = rng.uniform(-0.02, 0.02);
  const browArch = rng.uniform(0, 0.025);
  const browWidth = rng.uniform(0.014, 0.026) * (p.gender === 0 ? 1.2 : 1);
  // Pupils stay the darkest spots of a face, as in photos.
  const browShade = Math.max(35, Math.min(p.hair, p.skin * 0.55));
  for (const dir of [-1, 1]) {
    const ex = cx + dir * eyeDx;
    c.ellipse(ex, eyeY + eyeH * 0.3, eyeW * 1.15, eyeH * 1.2, p.skin * 0.85, { opacity: 0.6 });
    c.ellipse(ex, eyeY, eyeW, eyeH, Math.min(245, p.skin + 70));
    c.ellipse(ex + gazeX, eyeY, eyeH * 0.85, eyeH * 0.85, iris, { mask: (_x, y) => (Math.abs(y - eyeY) < eyeH ? 1 : 0) });
    c.ellipse(ex + gazeX, eyeY, eyeH * 0.45, eyeH * 0.45, 5);
    c.curve(ex - eyeW, eyeY, ex, eyeY - eyeH * 2, ex + eyeW, eyeY, 0.01, p.skin * 0.35);
    const by = eyeY - browGap;
    // Inner ends lower than outer ones frown, higher ones look surprised or sad.
    c.curve(ex - dir * eyeW * 1.2, by + browTilt, ex, by - 2 * browArch, ex + dir * eyeW * 1.25, by - browTilt, browWidth, browShade);
  }
  return eyeY;
}

// Bridge, tip and nostrils; returns the height of the tip.
function drawNose(c: GrayCanvas, rng: Rng, p: Person, { cx }: Head, eyeY: number): number {
  const tip = eyeY + rng.uniform(0.14, 0.19) * (p.child ? 0.85 : 1);
  const width = rng.uniform(0.03, 0.045);
  c.line(cx + rng.uniform(-0.02, 0.02), eyeY + 0.03, cx + rng.uniform(-0.01, 0.01), tip - 0.01, 0.012, p.skin * 0.8, 0.7);
  c.ellipse(cx, tip, width, 0.022, p.skin * 0.82, { opacity: 0.8 });
  for (const d of [-1, 1]) c.ellipse(cx + d * width * 0.55, tip + 0.008, width * 0.3, 0.01, p.skin * 0.45);
  return tip;
}

// For some men a beard first, then an open or closed mouth with lips, smiling or not.
function drawMouth(c: GrayCanvas, rng: Rng, p: Person, { cx, cy, rx, ry }: Head, mouthY: number): void {
  const mouthW = rng.uniform(0.07, 0.11);
  const smile = rng.uniform(-0.015, 0.04);
  const lips = p.skin * rng.uniform(0.55, 0.8);
  if (p.gender === 0 && p.age > 18 && rng.next() < 0.35) {
    // The beard covers the jaw below a line that rises towards the ears.
    const beardTop = mouthY - rng.uniform(0.03, 0.06);
    const rise = rng.uniform(0.4, 1.2);
    const mask = (x: number, y: number) => Math.min(1, Math.max(0, (y - beardTop + rise * (x - cx) ** 2) * c.side + 0.5));
    c.ellipse(cx, cy, rx * 0.98, ry * 0.99, p.hair, { opacity: rng.uniform(0.35, 0.85), mask });
  }
  if (rng.next() < 0.25) c.ellipse(cx, mouthY + smile * 0.5, mouthW * 0.75, rng.uniform(0.015, 0.035), 25);
  c.curve(cx - mouthW, mouthY, cx, mouthY - 0.012 + smile * 0.3, cx + mouthW, mouthY, 0.012, lips);
  c.curve(cx - mouthW, mouthY, cx, mouthY + smile, cx + mouthW, mouthY, rng.uniform(0.008, 0.014), lips * 0.7);
  c.curve(cx - mouthW * 0.7, mouthY + 0.02, cx, mouthY + 0.03 + smile, cx + mouthW * 0.7, mouthY + 0.02, 0.014, lips * 1.1);
}
