import * as tf from '@tensorflow/tfjs';

/*
 * The stock wasm Conv2D and FusedConv2D hand 'same' padding to XNNPACK as a flag, and
 * XNNPACK then pads differently from TensorFlow when a kernel side is 1 (1xN, Nx1), when
 * the strides differ, or when the kernel is smaller than the stride (tfjs issue #6629):
 * the results are silently wrong. Explicit pads computed the TensorFlow way are right in
 * every case, so these wrappers pass those instead and leave the rest to the stock kernel.
 */

type ConvAttrs = tf.Conv2DAttrs | tf.FusedConv2DAttrs;

const wrappers = new Set<tf.KernelFunc>();

/**
 * Replaces the wasm Conv2D and FusedConv2D kernels with wrappers that turn 'same' padding
 * into explicit pads; needs tfjs-backend-wasm loaded; does nothing when already done.
 */
export function registerWasmSamePaddingFix(): void {
  for (const name of [tf.Conv2D, tf.FusedConv2D]) {
    const stock = tf.getKernel(name, 'wasm');
    if (!stock) throw new Error(`no wasm ${name} kernel to wrap: load @tensorflow/tfjs-backend-wasm first`);
    if (wrappers.has(stock.kernelFunc)) continue;
    const kernelFunc: tf.KernelFunc = (args) => stock.kernelFunc({ ...args, attrs: explicitSame(args) });
    wrappers.add(kernelFunc);
    tf.unregisterKernel(name, 'wasm');
    // The stock setup (which binds the wasm function) must still run when the backend starts.
    tf.registerKernel({ ...stock, kernelFunc });
  }
}

function explicitSame({ inputs, attrs }: Parameters<tf.KernelFunc>[0]): tf.NamedAttrMap {
  const a = attrs as unknown as ConvAttrs;
  if (a.pad !== 'same') return attrs as tf.NamedAttrMap;
  const { x, filter } = inputs as { x: tf.TensorInfo; filter: tf.TensorInfo };
  const { padInfo } = tf.backend_util.computeConv2DInfo(
    x.shape as [number, number, number, number],
    filter.shape as [number, number, number, number],
    a.strides,
    a.dilations,
    'same',
    a.dimRoundingMode,
  );
  const pad: tf.backend_util.ExplicitPadding = [[0, 0], [padInfo.top, padInfo.bottom], [padInfo.left, padInfo.right], [0, 0]];
  return { ...attrs, pad } as unknown as tf.NamedAttrMap;
}
