import { list, record, text, texts } from './_deploy-files';

/** What the Job controller does with a failed pod: a podFailurePolicy rule's action, or Count (the default handling). */
export type PodFailureAction = 'FailJob' | 'FailIndex' | 'Ignore' | 'Count';

const ACTIONS: readonly string[] = ['FailJob', 'FailIndex', 'Ignore', 'Count'];

/** A failed pod as a pod failure policy sees it: each container's exit code, and the conditions it has (status True). */
export interface PodFailure {
  exitCodes: Readonly<Record<string, number>>;
  conditions?: readonly string[];
}

/**
 * The action a Job's `podFailurePolicy` takes on a failed pod, decided as the Job controller
 * does: the rules in order, the first that matches wins, and none matching is Count. An
 * `onExitCodes` rule looks at its container's exit code (every container's without
 * `containerName`) and never matches 0; an `onPodConditions` rule matches when the pod has one
 * of its condition types with the pattern's status (True by default).
 */
export function podFailureAction(jobSpec: Record<string, unknown>, failure: PodFailure): PodFailureAction {
  if (jobSpec.podFailurePolicy === undefined) return 'Count';
  const rules = list(record(jobSpec.podFailurePolicy, 'podFailurePolicy').rules, 'podFailurePolicy.rules');
  for (const [i, value] of rules.entries()) {
    const where = `podFailurePolicy.rules[${i}]`;
    const rule = record(value, where);
    const action = text(rule.action, `${where}.action`);
    if (!ACTIONS.includes(action)) throw new Error(`${where}: unknown action ${action}`);
    if (matches(rule, failure, where)) return action as PodFailureAction;
  }
  return 'Count';
}

function matches(rule: Record<string, unknown>, failure: PodFailure, where: string): boolean {
  if ((rule.onExitCodes === undefined) === (rule.onPodConditions === undefined)) throw new Error(`${where}: needs exactly one of onExitCodes and onPodConditions`);
  if (rule.onPodConditions !== undefined) {
    return list(rule.onPodConditions, `${where}.onPodConditions`).some((p) => {
      const pattern = record(p, `${where}.onPodConditions[]`);
      return (pattern.status ?? 'True') === 'True' && (failure.conditions ?? []).includes(text(pattern.type, `${where} condition type`));
    });
  }
  const req = record(rule.onExitCodes, `${where}.onExitCodes`);
  const values = texts(req.values, `${where}.onExitCodes.values`).map(Number);
  const codes = Object.entries(failure.exitCodes)
    .filter(([container, code]) => code !== 0 && (req.containerName === undefined || req.containerName === container))
    .map(([, code]) => code);
  if (req.operator === 'In') return codes.some((c) => values.includes(c));
  if (req.operator === 'NotIn') return codes.some((c) => !values.includes(c));
  throw new Error(`${where}.onExitCodes.operator: expected In or NotIn, got ${String(req.operator)}`);
}

/**
 * How many times a Job replaces a pod whose failure is counted: `backoffLimitPerIndex` (per
 * index) when set, else `backoffLimit` (for the whole Job; Kubernetes' default is 6).
 */
export function retryBudget(jobSpec: Record<string, unknown>): { retries: number; perIndex: boolean } {
  if (jobSpec.backoffLimitPerIndex !== undefined) return { retries: Number(jobSpec.backoffLimitPerIndex), perIndex: true };
  return { retries: jobSpec.backoffLimit === undefined ? 6 : Number(jobSpec.backoffLimit), perIndex: false };
}
