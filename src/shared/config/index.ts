export { resolveConfig, validateConfig, validateSavedConfig, type ConfigSources } from './load';
export { DEFAULT_CONFIG, PRESETS, type Preset } from './presets';
export * from './schema';
