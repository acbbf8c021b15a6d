// The model package's public surface. Importing it also registers the custom layers with
// tfjs's serializer, which loading a saved model needs.
export { buildDiscriminator } from './discriminator';
export { ConditionalFaces, type FacePrior, type Faces, fitFacePrior } from './face-prior';
export { FacePriorFill, installFacePrior } from './face-prior-fill';
export { buildGenerator, fitGeneratorPrior, INPUT_CHANNELS, PRIOR_LAYER } from './generator';
export { type DecoderLayerPlan, type EncoderLayerPlan, type GeneratorPlan, type GlobalLinearPlan, planGenerator, type PriorPlan } from './generator-plan';
export { type Inpainting, inpaint } from './inpaint';
export { bceWithLogits, discriminatorLoss, generatorAdversarialLoss, generatorTotalLoss, l2Loss, realLabel } from './losses';
export { MinibatchDiscrimination } from './minibatch-discrimination';
export { MinibatchStddev } from './minibatch-stddev';
export { SeededDropout, setDropoutSeeds } from './seeded-dropout';
