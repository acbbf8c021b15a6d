import type { Invocation } from './_cli-spec';

const OPERATORS = new Set([';', '&', '&&', '|', '||', '(', ')', '<', '>']);

/**
 * Splits shell text into words the way bash does before expansion, which is all a static check
 * needs: quotes removed (their content kept verbatim, `$VAR` included), backslash-newlines
 * joined, comments dropped, `$(...)` and `$((...))` kept whole, and every unquoted control
 * operator or newline a word of its own (a newline becomes `;`).
 */
export function shellWords(text: string): string[] {
  const src = text.replace(/\\\r?\n/g, '');
  const words: string[] = [];
  let word = '';
  let inWord = false;
  const end = () => {
    if (inWord) words.push(word);
    word = '';
    inWord = false;
  };
  for (let i = 0; i < src.length; i++) {
    const c = src[i];
    if (c === '$' && src[i + 1] === '(') {
      const close = matchingParen(src, i + 1);
      word += src.slice(i, close + 1);
      inWord = true;
      i = close;
    } else if (c === "'") {
      const close = src.indexOf("'", i + 1);
      if (close < 0) throw new Error(`unterminated ' in: ${src.slice(i, i + 60)}`);
      word += src.slice(i + 1, close);
      inWord = true;
      i = close;
    } else if (c === '"') {
      i = readDoubleQuoted(src, i, (part) => (word += part));
      inWord = true;
    } else if (c === '\\' && i + 1 < src.length) {
      word += src[++i];
      inWord = true;
    } else if (c === '#' && !inWord) {
      while (i + 1 < src.length && src[i + 1] !== '\n') i++;
    } else if (c === '\n') {
      end();
      words.push(';');
    } else if (c === ' ' || c === '\t' || c === '\r') {
      end();
    } else if (OPERATORS.has(c)) {
      end();
      const pair = c + (src[i + 1] ?? '');
      if (pair === '&&' || pair === '||') {
        words.push(pair);
        i++;
      } else words.push(c);
    } else {
      word += c;
      inWord = true;
    }
  }
  end();
  return words;
}

/** Reads a double-quoted string starting at `open`; hands its content to `add`; returns the closing quote's index. */
function readDoubleQuoted(src: string, open: number, add: (part: string) => void): number {
  for (let i = open + 1; i < src.length; i++) {
    const c = src[i];
    if (c === '"') return i;
    if (c === '\\' && i + 1 < src.length && '"\\$`'.includes(src[i + 1])) add(src[++i]);
    else if (c === '$' && src[i + 1] === '(') {
      const close = matchingParen(src, i + 1);
      add(src.slice(i, close + 1));
      i = close;
    } else add(c);
  }
  throw new Error(`unterminated " in: ${src.slice(open, open + 60)}`);
}

function matchingParen(src: string, open: number): number {
  let depth = 0;
  for (let i = open; i < src.length; i++) {
    if (src[i] === '(') depth++;
    else if (src[i] === ')' && --depth === 0) return i;
  }
  throw new Error(`unbalanced $( in: ${src.slice(open - 1, open + 60)}`);
}

/** The word that starts the CLI: `facefill` itself, or the compiled entry `.../dist/src/cli.js` run by node. */
export function isCliEntry(word: string): boolean {
  return word === 'facefill' || /(^|\/)dist\/src\/cli\.js$/.test(word);
}

const PREFIXES = new Set(['exec', 'env', 'nohup', 'time', 'command', 'srun']);

/**
 * Whether the word at `i` is the program a simple command runs: first after an operator, past
 * assignments (`A=1`), prefixes such as `exec` or `srun`, and their `--options`. For the compiled
 * entry, the program is node and the entry its first argument. (So `useradd ... facefill` or
 * `--gid facefill` are not mistaken for the CLI.)
 */
function runsCli(words: readonly string[], i: number): boolean {
  if (!isCliEntry(words[i])) return false;
  let j = i - 1;
  if (words[i] !== 'facefill') {
    if (j < 0 || !/(^|\/)node$/.test(words[j])) return false;
    j--;
  }
  while (j >= 0 && (PREFIXES.has(words[j]) || words[j].startsWith('-') || /^\w+=/.test(words[j]))) j--;
  return j < 0 || OPERATORS.has(words[j]) || words[j] === '&&' || words[j] === '||';
}

/**
 * Every facefill command line in a shell script: the words after the CLI entry up to the end of
 * its simple command, also inside `bash -c '...'` scripts.
 */
export function findShellInvocations(script: string, origin: string): Invocation[] {
  const words = shellWords(script);
  const found: Invocation[] = [];
  for (let i = 0; i < words.length; i++) {
    if (words[i] === '-c' && i > 0 && /(^|\/)(ba)?sh$/.test(words[i - 1]) && i + 1 < words.length) {
      found.push(...findShellInvocations(words[i + 1], `${origin} (${words[i - 1]} -c)`));
      i++;
    } else if (runsCli(words, i)) {
      const argv: string[] = [];
      for (let j = i + 1; j < words.length && !OPERATORS.has(words[j]) && words[j] !== '&&' && words[j] !== '||'; j++) argv.push(words[j]);
      if (argv.length > 0) found.push({ origin: `${origin}: facefill ${argv[0]}`, argv });
    }
  }
  return found;
}
