import { readFileSync } from 'node:fs';
import type { z } from 'zod';
import { NO_AUGMENT } from '../data/augmentation';
import { ConfigInvalidError } from '../errors';
import { DEFAULT_CONFIG, PRESETS } from './presets';
import { type ConfigOverlay, type RunConfig, RunConfigSchema } from './schema';

/** Where a run's configuration comes from, lowest precedence first after the preset. */
export interface ConfigSources {
  /** Preset name; defaults to the config file's `preset`, else `default`. */
  preset?: string;
  /** Path of a JSON config file holding a partial RunConfig. */
  file?: string;
  /** `section.field=value` assignments (value parsed as JSON when it parses, else a string). */
  set?: readonly string[];
  /** Typed overrides from dedicated CLI flags (highest precedence). */
  overrides?: ConfigOverlay;
}

/**
 * Builds the validated run configuration: default ← preset ← file ← --set ← flags.
 * Sections merge field by field; a field's value (such as the occlusion mix) replaces whole.
 */
export function resolveConfig(sources: ConfigSources = {}): RunConfig {
  const fileOverlay = sources.file ? readConfigFile(sources.file) : {};
  const presetName = sources.preset ?? (typeof fileOverlay.preset === 'string' ? fileOverlay.preset : 'default');
  const preset = PRESETS[presetName];
  if (!preset) {
    throw new ConfigInvalidError(`unknown preset '${presetName}'; expected one of ${Object.keys(PRESETS).join(', ')}`);
  }
  const merged = onDefaults([preset.overlay, fileOverlay, parseAssignments(sources.set ?? []), sources.overrides ?? {}]);
  merged.preset = presetName;
  return validateConfig(merged, sources.file ?? 'config');
}

/** Validates a whole config object, naming each bad field, its value and what is allowed. */
export function validateConfig(value: unknown, origin = 'config'): RunConfig {
  const parsed = RunConfigSchema.safeParse(value);
  if (parsed.success) return parsed.data;
  throw new ConfigInvalidError(`invalid ${origin}:\n${formatIssues(parsed.error.issues, value)}`);
}

/**
 * Validates a config saved by a run (a checkpoint's, run.json's): fields added to the config
 * since it was written take the value its preset gives them now, or, where they shape the
 * networks or the data, the value that does what the run did ({@link BEFORE_ADDED}), so a
 * run from an older version resumes; anything else that does not validate is an error naming `origin`.
 */
export function validateSavedConfig(value: unknown, origin: string): RunConfig {
  if (!isPlainObject(value)) return validateConfig(value, origin);
  const preset = typeof value.preset === 'string' ? PRESETS[value.preset] : undefined;
  return validateConfig(onDefaults([preset?.overlay ?? {}, BEFORE_ADDED, value]), origin);
}

// Fields added since configs were first saved that change the networks, the data or the steps, at the
// value that does what runs did before they existed: an older checkpoint loads into the
// networks it was trained as, and resumes on the data it saw.
const BEFORE_ADDED: ConfigOverlay = {
  generator: { upsample: 'transposed', mirrorInput: false, globalLinear: false, prior: 0 },
  optimizer: { schedule: 'constant' },
  data: { augment: { ...NO_AUGMENT } },
};

function formatIssues(issues: readonly z.core.$ZodIssue[], input: unknown): string {
  return issues
    .map((issue) => {
      const field = issue.path.join('.') || '(root)';
      const got = valueAt(input, issue.path);
      const shown = got === undefined ? '' : ` (got ${JSON.stringify(got)})`;
      return `  - ${field}: ${issue.message}${shown}`;
    })
    .join('\n');
}

function valueAt(input: unknown, path: readonly PropertyKey[]): unknown {
  let cur: unknown = input;
  for (const key of path) {
    if (cur === null || typeof cur !== 'object') return undefined;
    cur = (cur as Record<PropertyKey, unknown>)[key];
  }
  return cur;
}

// DEFAULT_CONFIG with each overlay merged over it in turn, section by section.
function onDefaults(overlays: readonly object[]): Record<string, unknown> {
  return overlays.reduce<Record<string, unknown>>((merged, overlay) => mergeOverlay(merged, overlay), { ...DEFAULT_CONFIG });
}

function mergeOverlay(base: Record<string, unknown>, overlay: object): Record<string, unknown> {
  const out: Record<string, unknown> = { ...base };
  for (const [key, value] of Object.entries(overlay)) {
    const prev = out[key];
    out[key] = isPlainObject(prev) && isPlainObject(value) ? { ...prev, ...value } : value;
  }
  return out;
}

function isPlainObject(v: unknown): v is Record<string, unknown> {
  return v !== null && typeof v === 'object' && !Array.isArray(v);
}

function readConfigFile(file: string): Record<string, unknown> {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (err) {
    throw new ConfigInvalidError(`cannot read config file ${file}: ${(err as Error).message}`);
  }
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch (err) {
    throw new ConfigInvalidError(`config file ${file} is not valid JSON: ${(err as Error).message}`);
  }
  if (!isPlainObject(parsed)) throw new ConfigInvalidError(`config file ${file} must hold a JSON object`);
  return parsed;
}

function parseAssignments(assignments: readonly string[]): Record<string, Record<string, unknown>> {
  const out: Record<string, Record<string, unknown>> = {};
  for (const a of assignments) {
    const m = /^([A-Za-z]+)\.([A-Za-z0-9]+)=(.*)$/s.exec(a);
    if (!m) throw new ConfigInvalidError(`--set '${a}': expected section.field=value, e.g. loss.l2Weight=50`);
    const [, section, field, raw] = m;
    (out[section] ??= {})[field] = parseValue(raw);
  }
  return out;
}

function parseValue(raw: string): unknown {
  try {
    return JSON.parse(raw);
  } catch {
    return raw;
  }
}
