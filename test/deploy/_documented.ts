import type { Invocation } from './_cli-spec';
import { findShellInvocations, shellWords } from './_shell-words';

/** The shell code blocks (```sh, ```bash) of a Markdown file. */
export function shellBlocks(markdown: string): string[] {
  return [...markdown.matchAll(/^```(?:sh|bash|shell)\n([\s\S]*?)^```/gm)].map((m) => m[1]);
}

/** Every facefill command line in the shell code blocks of a Markdown file. */
export function documentedInvocations(markdown: string, origin: string): Invocation[] {
  return shellBlocks(markdown).flatMap((block, i) => findShellInvocations(block, `${origin} code block ${i + 1}`));
}

/** A `kubectl create secret generic <name> --from-file=<source>` found in shell text. */
export interface SecretCreation {
  name: string;
  fromFiles: string[];
}

/** Every `kubectl create secret generic` of the shell code blocks of a Markdown file. */
export function documentedSecrets(markdown: string): SecretCreation[] {
  const found: SecretCreation[] = [];
  for (const block of shellBlocks(markdown)) {
    const words = shellWords(block);
    for (let i = 0; i + 3 < words.length; i++) {
      if (words[i] !== 'kubectl' || words[i + 1] !== 'create' || words[i + 2] !== 'secret' || words[i + 3] !== 'generic') continue;
      const args: string[] = [];
      for (let j = i + 4; j < words.length && ![';', '&&', '||', '|', '&'].includes(words[j]); j++) args.push(words[j]);
      const fromFiles: string[] = [];
      let name: string | undefined;
      for (let j = 0; j < args.length; j++) {
        const a = args[j];
        if (a.startsWith('--from-file=')) fromFiles.push(a.slice('--from-file='.length));
        else if (a === '--from-file') fromFiles.push(args[++j]);
        else if (a === '-n' || a === '--namespace') j++;
        else if (!a.startsWith('-') && name === undefined) name = a;
      }
      if (name) found.push({ name, fromFiles });
    }
  }
  return found;
}
