/**
 * The all-reduce's arithmetic on blocks of values, as a small WebAssembly SIMD module built
 * here, byte by byte. A JavaScript loop over typed arrays turns every float32 into a double
 * and back; four lanes at a time in WebAssembly take a tenth of its instructions. What is left
 * is memory traffic (the payload and the rank's values are read, the payload and the result
 * written; the blocks themselves stay in the first-level cache), so on a 2-core host the
 * owner's last addition took about 3 ns a value instead of 4, and the fp16 conversions about
 * half the time of their JavaScript form. Every operation is IEEE single precision with
 * round-to-nearest-even, so the results are the bits the JavaScript reference
 * ({@link FloatReduction}, {@link HalfReduction}) computes, NaN payloads aside.
 *
 * The module works on three fixed blocks of its memory, which the caller fills and reads
 * through the views below: `x` and `y` of float32 values, `h` of half bit patterns.
 */

/** Values in one block: each call works on at most this many. */
export const BLOCK_VALUES = 8192;

/** The module's functions; `n` is a count of values (rounded up to 4: lanes past it compute garbage). */
export interface SimdFunctions {
  /** x[i] = x[i] + y[i]. */
  add(n: number): void;
  /** x[i] = (x[i] + y[i]) / divisor. */
  addDivide(n: number, divisor: number): void;
  /** h[i] = half(float(h[i]) + y[i]). */
  addHalves(n: number): void;
  /** h[i] = half((float(h[i]) + y[i]) / divisor) and x[i] = float(h[i]), the value every rank keeps. */
  addDivideHalves(n: number, divisor: number): void;
  /** h[i] = half(y[i]). */
  toHalves(n: number): void;
  /** x[i] = float(h[i]). */
  fromHalves(n: number): void;
}

/** One instance of the kernels: its functions and the views of the blocks they work on. */
export interface SimdKernels extends SimdFunctions {
  readonly x: Float32Array;
  readonly y: Float32Array;
  readonly h: Uint16Array;
}

const X = 0;
const Y = X + BLOCK_VALUES * 4;
const H = Y + BLOCK_VALUES * 4;
const PAGES = Math.ceil((H + BLOCK_VALUES * 2) / 65536);

/** The part of the WebAssembly API used here; the project's lib settings declare none of it. */
interface WasmApi {
  validate(bytes: Uint8Array): boolean;
  Module: new (bytes: Uint8Array) => object;
  Instance: new (module: object) => { exports: Record<string, unknown> };
}

const wasm = (globalThis as unknown as { WebAssembly?: WasmApi }).WebAssembly;
let compiled: object | null | undefined;

let shared: SimdKernels | null | undefined;

/**
 * This process's instance of the kernels, or null where the runtime has no WebAssembly SIMD
 * (the caller then uses the JavaScript reference). One is enough: every use of the blocks is
 * synchronous (filled, computed and read without an await between), so all-reduces that
 * interleave at their awaits never see each other's values.
 */
export function simdKernels(): SimdKernels | null {
  if (shared === undefined) shared = createSimdKernels();
  return shared;
}

/**
 * A new instance of the kernels with its own memory, or null where this runtime has no
 * WebAssembly SIMD.
 */
export function createSimdKernels(): SimdKernels | null {
  if (compiled === undefined) {
    const bytes = moduleBytes();
    compiled = wasm?.validate(bytes) ? new wasm.Module(bytes) : null;
  }
  if (compiled === null || !wasm) return null;
  const exports = new wasm.Instance(compiled).exports as unknown as SimdFunctions & { memory: { buffer: ArrayBuffer } };
  // The memory never grows, so these views stay attached.
  const buffer = exports.memory.buffer;
  return {
    x: new Float32Array(buffer, X, BLOCK_VALUES),
    y: new Float32Array(buffer, Y, BLOCK_VALUES),
    h: new Uint16Array(buffer, H, BLOCK_VALUES),
    add: exports.add,
    addDivide: exports.addDivide,
    addHalves: exports.addHalves,
    addDivideHalves: exports.addDivideHalves,
    toHalves: exports.toHalves,
    fromHalves: exports.fromHalves,
  };
}

// ---- The module, in WebAssembly's binary format (https://webassembly.github.io/spec/core/binary/).

type Code = number[];

const leb = (value: number): Code => {
  const out: Code = [];
  let v = value >>> 0;
  do {
    const byte = v & 0x7f;
    v >>>= 7;
    out.push(v === 0 ? byte : byte | 0x80);
  } while (v !== 0);
  return out;
};
const sleb = (value: number): Code => {
  const out: Code = [];
  let v = value | 0;
  for (;;) {
    const byte = v & 0x7f;
    v >>= 7;
    const done = (v === 0 && (byte & 0x40) === 0) || (v === -1 && (byte & 0x40) !== 0);
    out.push(done ? byte : byte | 0x80);
    if (done) return out;
  }
};
const name = (s: string): Code => [...leb(s.length), ...Buffer.from(s, 'utf8')];
const section = (id: number, body: Code): Code => [id, ...leb(body.length), ...body];
const vector = (items: Code[]): Code => [...leb(items.length), ...items.flat()];

// Opcodes (SIMD ones after the 0xfd prefix).
const I32 = 0x7f;
const F32 = 0x7d;
const V128 = 0x7b;
const simd = (op: number, ...immediates: number[]): Code => [0xfd, ...leb(op), ...immediates];
const get = (local: number): Code => [0x20, ...leb(local)];
const set = (local: number): Code => [0x21, ...leb(local)];
const i32 = (v: number): Code => [0x41, ...sleb(v)];
// A constant in every i32 lane (v128.const: a splat in the loop would be redone every step).
const splat = (v: number): Code => {
  const lane = [v & 0xff, (v >>> 8) & 0xff, (v >>> 16) & 0xff, (v >>> 24) & 0xff];
  return simd(0x0c, ...lane, ...lane, ...lane, ...lane);
};
const memarg = (alignLog2: number, offset: number): number[] => [alignLog2, ...leb(offset)];
const op = {
  load: (offset: number) => simd(0x00, ...memarg(4, offset)),
  store: (offset: number) => simd(0x0b, ...memarg(4, offset)),
  loadHalves: (offset: number) => simd(0x04, ...memarg(3, offset)), // i32x4.load16x4_u
  storeHalves: (offset: number) => simd(0x5b, ...memarg(3, offset), 0), // v128.store64_lane, lane 0
  narrowU: simd(0x86), // i16x8.narrow_i32x4_u
  and: simd(0x4e),
  or: simd(0x50),
  bitselect: simd(0x52),
  eq: simd(0x37),
  gtU: simd(0x3c),
  geU: simd(0x40),
  shl: simd(0xab),
  shrU: simd(0xad),
  iadd: simd(0xae),
  isub: simd(0xb1),
  fadd: simd(0xe4),
  fmul: simd(0xe6),
  fge: simd(0x46),
  fdiv: simd(0xe7),
  fsplat: simd(0x13),
};

// Locals after the parameters (n, and the divisor where there is one): the loop's byte offset
// and end, then v128 values.
interface Locals {
  i: number;
  end: number;
  /** The divisor in every lane. */
  divisor: number;
  /** Halves read from memory, one per i32 lane. */
  halves: number;
  /** Float32 values to round to halves. */
  floats: number;
  /** Halves computed, one per i32 lane. */
  rounded: number;
  /** Scratch of fromHalf and toHalf. */
  s1: number;
  s2: number;
}

// The halves in each i32 lane of local `h` as float32 values, left on the stack: the half's
// exponent and fraction shifted into a float32's place make the half's value times 2^-112
// (a float32 subnormal for a subnormal half), which one exact multiplication scales back;
// exponents that were all ones become the infinity or NaN they were.
function fromHalf(h: number, l: Locals): Code {
  const f = l.s1;
  return [
    ...get(h), ...splat(0x7fff), ...op.and, ...i32(13), ...op.shl, ...splat(0x77800000 /* 2^112 */), ...op.fmul, ...set(f),
    ...get(f),
    ...get(f), ...splat(0x47800000 /* 65536 */), ...op.fge, ...splat(0x7f800000), ...op.and, ...op.or,
    ...get(h), ...splat(0x8000), ...op.and, ...i32(16), ...op.shl, ...op.or,
  ];
}

// The half nearest (ties to even) to the float32 in each lane of local `u`, left on the stack
// in an i32 lane: floatBitsToHalf in half.ts, lane by lane.
function toHalf(u: number, l: Locals): Code {
  const a = l.s1;
  return [
    ...get(u), ...splat(0x7fffffff), ...op.and, ...set(a),
    // Infinities and NaNs (and finite values from 65536, where the rebias below would overflow).
    ...splat(0x7e00), ...splat(0x7c00), ...get(a), ...splat(0x7f800000), ...op.gtU, ...op.bitselect,
    // Normal: rebias and round the 13 dropped bits to nearest even; from 65520 this carries
    // into infinity's exponent by itself.
    ...get(a), ...splat((-0x38000000 + 0xfff) | 0), ...op.iadd,
    ...get(a), ...i32(13), ...op.shrU, ...splat(1), ...op.and, ...op.iadd,
    ...i32(13), ...op.shrU,
    // Subnormal: adding 0.5 rounds the value to a multiple of 2^-24, the mantissa's last bit.
    ...get(a), ...splat(0x3f000000), ...op.fadd, ...splat(0x3f000000), ...op.isub,
    ...get(a), ...splat(0x38800000), ...op.geU,
    ...op.bitselect,
    ...get(a), ...splat(0x47800000), ...op.geU,
    ...op.bitselect,
    ...get(u), ...i32(16), ...op.shrU, ...splat(0x8000), ...op.and, ...op.or,
  ];
}

const halfAddress = (l: Locals): Code => [...get(l.i), ...i32(1), 0x76 /* i32.shr_u */];
const storeRounded = (l: Locals): Code => [...halfAddress(l), ...get(l.rounded), ...get(l.rounded), ...op.narrowU, ...op.storeHalves(H)];

// A function looping over n values, 4 a step: `body` finds the float32 byte offset in local i.
function kernel(withDivisor: boolean, body: (l: Locals) => Code): { type: number; code: Code } {
  const p = withDivisor ? 2 : 1;
  const l: Locals = { i: p, end: p + 1, divisor: p + 2, halves: p + 3, floats: p + 4, rounded: p + 5, s1: p + 6, s2: p + 7 };
  const locals = vector([
    [2, I32],
    [6, V128],
  ]);
  const code: Code = [
    ...get(0), ...i32(2), 0x74 /* i32.shl */, ...set(l.end),
    ...(withDivisor ? [...get(1), ...op.fsplat, ...set(l.divisor)] : []),
    0x02, 0x40, // block
    0x03, 0x40, // loop
    ...get(l.i), ...get(l.end), 0x4f /* i32.ge_u */, 0x0d, 0x01, // br_if 1: done
    ...body(l),
    ...get(l.i), ...i32(16), 0x6a /* i32.add */, ...set(l.i),
    0x0c, 0x00, // br 0
    0x0b, 0x0b, // end loop, end block
    0x0b, // end function
  ];
  const bodyBytes = [...locals, ...code];
  return { type: withDivisor ? 1 : 0, code: [...leb(bodyBytes.length), ...bodyBytes] };
}

const FUNCTIONS: [keyof SimdFunctions, ReturnType<typeof kernel>][] = [
  ['add', kernel(false, (l) => [...get(l.i), ...get(l.i), ...op.load(X), ...get(l.i), ...op.load(Y), ...op.fadd, ...op.store(X)])],
  ['addDivide', kernel(true, (l) => [...get(l.i), ...get(l.i), ...op.load(X), ...get(l.i), ...op.load(Y), ...op.fadd, ...get(l.divisor), ...op.fdiv, ...op.store(X)])],
  [
    'addHalves',
    kernel(false, (l) => [
      ...halfAddress(l), ...op.loadHalves(H), ...set(l.halves),
      ...fromHalf(l.halves, l), ...get(l.i), ...op.load(Y), ...op.fadd, ...set(l.floats),
      ...toHalf(l.floats, l), ...set(l.rounded),
      ...storeRounded(l),
    ]),
  ],
  [
    'addDivideHalves',
    kernel(true, (l) => [
      ...halfAddress(l), ...op.loadHalves(H), ...set(l.halves),
      ...fromHalf(l.halves, l), ...get(l.i), ...op.load(Y), ...op.fadd, ...get(l.divisor), ...op.fdiv, ...set(l.floats),
      ...toHalf(l.floats, l), ...set(l.rounded),
      ...storeRounded(l),
      ...get(l.i), ...fromHalf(l.rounded, l), ...op.store(X),
    ]),
  ],
  ['toHalves', kernel(false, (l) => [...get(l.i), ...op.load(Y), ...set(l.floats), ...toHalf(l.floats, l), ...set(l.rounded), ...storeRounded(l)])],
  ['fromHalves', kernel(false, (l) => [...halfAddress(l), ...op.loadHalves(H), ...set(l.halves), ...get(l.i), ...fromHalf(l.halves, l), ...op.store(X)])],
];

function moduleBytes(): Uint8Array {
  const functions = FUNCTIONS;
  const types = vector([
    [0x60, ...vector([[I32]]), ...vector([])],
    [0x60, ...vector([[I32], [F32]]), ...vector([])],
  ]);
  const bytes = [
    ...[0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00],
    ...section(1, types),
    ...section(3, vector(functions.map(([, f]) => leb(f.type)))),
    ...section(5, vector([[0x00, ...leb(PAGES)]])),
    ...section(7, vector([[...name('memory'), 0x02, 0x00], ...functions.map(([n], index) => [...name(n), 0x00, ...leb(index)])])),
    ...section(10, vector(functions.map(([, f]) => f.code))),
  ];
  return Uint8Array.from(bytes);
}
