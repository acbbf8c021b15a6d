/**
 * Anything that fills the holes of occluded faces: the trained generator or a baseline.
 * Evaluation and restore measure every implementation with the same code.
 */
export interface Inpainter {
  /** Name shown in reports (`model`, `mean-fill`, `mean-face`). */
  readonly name: string;
  /**
   * Fills the holes of `count` images of `size`x`size`, pixels in [0, 1] (row-major,
   * image after image); `masks` holds 1 for hole pixels. Returns the composited images:
   * known pixels unchanged, holes filled.
   */
  inpaint(images: Float32Array, masks: Uint8Array, count: number, size: number): Promise<Float32Array>;
}
