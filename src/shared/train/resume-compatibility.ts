import { isDeepStrictEqual } from 'node:util';
import type { RunConfig } from '../config';

/** One setting that differs between a checkpoint's config and the config a run resumes with. */
export interface SettingChange {
  /** Dotted config path, e.g. `generator.layers`. */
  path: string;
  saved: unknown;
  current: unknown;
}

/** Config sections that fix the networks' shapes: a checkpoint cannot be loaded into another. */
const ARCHITECTURE = ['generator', 'discriminator'] as const;

// Settings a resume may change without the run differing from an uninterrupted one.
const EXPECTED_TO_CHANGE: readonly string[] = ['train.steps', 'backend', 'preset', 'data.prefetch'];

/**
 * Compares a checkpoint's run config with the one a run resumes with, split into
 * architecture changes (which make the saved weights unusable) and other changes
 * (allowed, but the run then no longer matches an uninterrupted one). `train.steps`,
 * `backend` and `data.prefetch` are expected to change and are not reported.
 */
export function compareForResume(saved: RunConfig, current: RunConfig): { architecture: SettingChange[]; other: SettingChange[] } {
  const architecture: SettingChange[] = [];
  const other: SettingChange[] = [];
  for (const section of Object.keys(current) as (keyof RunConfig)[]) {
    const [a, b] = [saved[section], current[section]];
    const changes =
      typeof b === 'object' && b !== null
        ? Object.keys(b)
            .filter((field) => !isDeepStrictEqual((a as Record<string, unknown>)[field], (b as Record<string, unknown>)[field]))
            .map((field) => ({ path: `${section}.${field}`, saved: (a as Record<string, unknown>)[field], current: (b as Record<string, unknown>)[field] }))
        : isDeepStrictEqual(a, b)
          ? []
          : [{ path: section, saved: a, current: b }];
    for (const change of changes) {
      if (EXPECTED_TO_CHANGE.includes(change.path)) continue;
      const fixesShape = (ARCHITECTURE as readonly string[]).includes(section) || change.path === 'data.imageSize';
      (fixesShape ? architecture : other).push(change);
    }
  }
  return { architecture, other };
}

/** Formats setting changes as `path: saved → current` items for an error or log message. */
export function describeChanges(changes: readonly SettingChange[]): string {
  return changes.map((c) => `${c.path}: ${JSON.stringify(c.saved)} → ${JSON.stringify(c.current)}`).join('; ');
}
