import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';

/** The repository's root (tests run from dist/test/<folder>). */
export const REPO = resolve(__dirname, '../../..');
/** The Prometheus configuration the deployments use. */
export const PROMETHEUS_CONFIG = resolve(REPO, 'deploy/prometheus/prometheus.yml');
/** The alert rules it loads. */
export const ALERTS_FILE = resolve(REPO, 'deploy/prometheus/alerts.yml');

/** One alerting rule, as far as the tests read it. */
export interface AlertRule {
  alert: string;
  expr: string;
  severity: string | null;
}

/**
 * Reads the alerting rules of `file`: each `- alert:` with its `expr` (a plain scalar or a
 * `|`/`>` block) and `severity`. It reads the subset of YAML that alerts.yml is written in and
 * throws on anything else where an expression should be; promtool, which reads full YAML,
 * checks the rule count agrees (test/deploy/prometheus-config.test.ts).
 */
export function readAlertRules(file = ALERTS_FILE): AlertRule[] {
  const lines = readFileSync(file, 'utf8').split('\n');
  const rules: AlertRule[] = [];
  const indent = (line: string) => line.length - line.trimStart().length;
  for (let i = 0; i < lines.length; i++) {
    const alert = /^(\s*)- alert:\s*(\S+)\s*$/.exec(lines[i]);
    if (alert) {
      rules.push({ alert: alert[2], expr: '', severity: null });
      continue;
    }
    const rule = rules.at(-1);
    const severity = /^\s*severity:\s*(\S+)\s*$/.exec(lines[i]);
    if (rule && severity) rule.severity = severity[1];
    const expr = /^(\s*)expr:\s*(.*?)\s*$/.exec(lines[i]);
    if (!expr) continue;
    if (!rule) throw new Error(`${file}:${i + 1}: an expr before any '- alert:'`);
    if (rule.expr) throw new Error(`${file}:${i + 1}: a second expr for ${rule.alert}`);
    const value = expr[2];
    if (/^[|>][-+]?$/.test(value)) {
      const block: string[] = [];
      while (i + 1 < lines.length && (lines[i + 1].trim() === '' || indent(lines[i + 1]) > expr[1].length)) block.push(lines[++i].trim());
      rule.expr = block.join('\n').trim();
    } else if (/^['"{[&*!]/.test(value)) {
      throw new Error(`${file}:${i + 1}: write ${rule.alert}'s expr as a plain scalar or a | block (the tests read no other form)`);
    } else {
      rule.expr = value;
    }
    if (!rule.expr) throw new Error(`${file}:${i + 1}: ${rule.alert} has an empty expr`);
  }
  for (const r of rules) if (!r.expr) throw new Error(`${file}: ${r.alert} has no expr`);
  return rules;
}
