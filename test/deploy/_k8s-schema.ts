import { text } from './_deploy-files';

// kubernetes-models is ESM only (its exports have no `require` condition), and tsc compiles this
// project's `import()` to `require()`: a Function keeps a real dynamic import.
const importEsm = new Function('specifier', 'return import(specifier)') as (specifier: string) => Promise<Record<string, unknown>>;

/** A kubernetes-models class: built from an object, validated against the Kubernetes API schema. */
interface ModelClass {
  new (data: unknown): { validate(): void };
  kind?: string;
}

/**
 * Checks a Kubernetes object against the API schema of its apiVersion and kind, with the
 * kubernetes-models package (types, enums, required fields; it lets unknown fields through).
 * Returns the problems, or none. An apiVersion or kind the package does not know is a problem:
 * nothing here is skipped.
 */
export async function schemaProblems(obj: Record<string, unknown>, where: string): Promise<string[]> {
  const apiVersion = text(obj.apiVersion, `${where} apiVersion`);
  const kind = text(obj.kind, `${where} kind`);
  let module: Record<string, unknown>;
  try {
    // Core is `v1`, a group `apps/v1`: the package's folders are named the same way.
    module = await importEsm(`kubernetes-models/${apiVersion}`);
  } catch (err) {
    return [`${where}: apiVersion ${apiVersion} is not one kubernetes-models knows (${(err as Error).message})`];
  }
  const model = module[kind] as ModelClass | undefined;
  if (typeof model !== 'function' || model.kind !== kind) return [`${where}: ${apiVersion} has no kind ${kind}`];
  try {
    new model(obj).validate();
    return [];
  } catch (err) {
    return [`${where} (${apiVersion} ${kind}): ${(err as Error).message}`];
  }
}
