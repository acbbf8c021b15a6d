import * as tf from '@tensorflow/tfjs';
import { CheckpointError } from '../errors';
// Registers the custom layers, which loading a saved model needs.
import '../model';
import type { NamedTensor } from './flat-gradients';

/**
 * Networks and optimizer state as file contents, without touching the file system:
 * tfjs-node's file:// handler is not available here, so models are saved through
 * `tf.io.withSaveHandler` and loaded through `tf.io.fromMemory`, in the standard tfjs
 * layers format (model.json + weights.bin).
 */

/** The two files of a model in the tfjs layers format. */
export interface ModelFiles {
  /** model.json: topology plus a weights manifest pointing at weights.bin. */
  json: Buffer;
  /** weights.bin: every weight (trainable or not) as little-endian float32. */
  weights: Buffer;
}

/** Name of a saved model's weights file, as its model.json refers to it. */
export const WEIGHTS_FILE = 'weights.bin';

/** Serialises a model (all weights, including batch-norm moving statistics) into its two files. */
export async function modelToFiles(model: tf.LayersModel): Promise<ModelFiles> {
  let files: ModelFiles | null = null;
  await model.save(
    tf.io.withSaveHandler(async (artifacts) => {
      const weights = Buffer.from(joinWeightData(artifacts.weightData));
      const modelJson = {
        format: artifacts.format ?? 'layers-model',
        generatedBy: artifacts.generatedBy,
        convertedBy: artifacts.convertedBy ?? null,
        modelTopology: artifacts.modelTopology,
        weightsManifest: [{ paths: [WEIGHTS_FILE], weights: artifacts.weightSpecs ?? [] }],
      };
      files = { json: Buffer.from(JSON.stringify(modelJson)), weights };
      return { modelArtifactsInfo: { dateSaved: new Date(), modelTopologyType: 'JSON', weightDataBytes: weights.byteLength } };
    }),
  );
  if (files === null) throw new Error('tfjs did not call the save handler');
  return files;
}

/** Rebuilds a model from its two files; `label` names it in errors. */
export async function modelFromFiles(files: ModelFiles, label: string): Promise<tf.LayersModel> {
  let parsed: { modelTopology?: object; weightsManifest?: { weights: tf.io.WeightsManifestEntry[] }[] };
  try {
    parsed = JSON.parse(files.json.toString('utf8')) as typeof parsed;
  } catch (err) {
    throw new CheckpointError(`${label}/model.json is not valid JSON: ${(err as Error).message}`, { cause: err });
  }
  if (!parsed.modelTopology || !Array.isArray(parsed.weightsManifest)) {
    throw new CheckpointError(`${label}/model.json lacks modelTopology or weightsManifest`);
  }
  const weightSpecs = parsed.weightsManifest.flatMap((group) => group.weights);
  try {
    return await tf.loadLayersModel(
      tf.io.fromMemory({ modelTopology: parsed.modelTopology, weightSpecs, weightData: toArrayBuffer(files.weights) }),
    );
  } catch (err) {
    throw new CheckpointError(`cannot load ${label}: ${(err as Error).message}`, { cause: err });
  }
}

/** The two files of an optimizer's state: the tensors' specs (JSON) and their bytes. */
export interface OptimizerFiles {
  json: Buffer;
  bin: Buffer;
}

/** Serialises an optimizer's named state tensors, keeping their order (Adam's state is positional). */
export async function optimizerStateToFiles(state: readonly NamedTensor[]): Promise<OptimizerFiles> {
  const { data, specs } = await tf.io.encodeWeights([...state]);
  return { json: Buffer.from(JSON.stringify({ weights: specs })), bin: Buffer.from(joinWeightData(data)) };
}

/** Rebuilds an optimizer's named state tensors in their saved order; the caller disposes them. */
export function optimizerStateFromFiles(files: OptimizerFiles, label: string): NamedTensor[] {
  let specs: tf.io.WeightsManifestEntry[];
  try {
    specs = (JSON.parse(files.json.toString('utf8')) as { weights: tf.io.WeightsManifestEntry[] }).weights;
  } catch (err) {
    throw new CheckpointError(`${label} optimizer state is not valid JSON: ${(err as Error).message}`, { cause: err });
  }
  if (!Array.isArray(specs)) throw new CheckpointError(`${label} optimizer state lacks its weights list`);
  let map: tf.NamedTensorMap;
  try {
    map = tf.io.decodeWeights(toArrayBuffer(files.bin), specs);
  } catch (err) {
    throw new CheckpointError(`${label} optimizer state does not match its specs: ${(err as Error).message}`, { cause: err });
  }
  return specs.map((spec) => ({ name: spec.name, tensor: map[spec.name] }));
}

function joinWeightData(data: tf.io.WeightData | undefined): ArrayBuffer {
  if (data === undefined) return new ArrayBuffer(0);
  return Array.isArray(data) ? tf.io.concatenateArrayBuffers(data) : data;
}

function toArrayBuffer(bytes: Buffer): ArrayBuffer {
  return bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.byteLength) as ArrayBuffer;
}
