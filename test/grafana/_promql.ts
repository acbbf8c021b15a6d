/**
 * Just enough of a PromQL reader to find the series an expression selects: it tokenises the
 * expression and walks it, so that function and aggregation names, keywords, label names (in
 * matchers and in `by`/`without`/`on`/`ignoring`/`group_left`/`group_right` lists), strings,
 * durations, numbers and Grafana variables are never taken for metric names.
 */

/** One vector selector of an expression: `name{matchers}`, or `{matchers}` naming `__name__`. */
export interface VectorSelector {
  /** The metric name, from the identifier or from a `__name__="..."` matcher. */
  name: string;
  /** The selector as written (without any range or offset), evaluable on its own once variables are substituted. */
  text: string;
}

/** Functions of Prometheus 2.42: an identifier followed by `(` must be one of these. */
export const PROMQL_FUNCTIONS: ReadonlySet<string> = new Set([
  'abs', 'absent', 'absent_over_time', 'acos', 'acosh', 'asin', 'asinh', 'atan', 'atanh',
  'avg_over_time', 'ceil', 'changes', 'clamp', 'clamp_max', 'clamp_min', 'cos', 'cosh',
  'count_over_time', 'day_of_month', 'day_of_week', 'day_of_year', 'days_in_month', 'deg', 'delta',
  'deriv', 'end', 'exp', 'floor', 'histogram_count', 'histogram_fraction', 'histogram_quantile',
  'histogram_sum', 'holt_winters', 'hour', 'idelta', 'increase', 'irate', 'label_join',
  'label_replace', 'last_over_time', 'ln', 'log10', 'log2', 'max_over_time', 'min_over_time',
  'minute', 'month', 'pi', 'predict_linear', 'present_over_time', 'quantile_over_time', 'rad',
  'rate', 'resets', 'round', 'scalar', 'sgn', 'sin', 'sinh', 'sort', 'sort_desc', 'sqrt', 'start',
  'stddev_over_time', 'stdvar_over_time', 'sum_over_time', 'tan', 'tanh', 'time', 'timestamp',
  'vector', 'year',
]);

// Keywords are case-insensitive in PromQL; compared lower-cased.
const AGGREGATIONS = new Set(['sum', 'avg', 'min', 'max', 'count', 'group', 'stddev', 'stdvar', 'topk', 'bottomk', 'quantile', 'count_values']);
const LABEL_LIST_KEYWORDS = new Set(['by', 'without', 'on', 'ignoring', 'group_left', 'group_right']);
const OTHER_KEYWORDS = new Set(['and', 'or', 'unless', 'bool', 'offset', 'atan2', 'inf', 'nan']);

type Kind = 'ident' | 'string' | 'number' | 'variable' | 'punct';

interface Token {
  kind: Kind;
  text: string;
  start: number;
  end: number;
}

const PUNCTUATION = ['=~', '!~', '!=', '==', '<=', '>=', '{', '}', '(', ')', '[', ']', ',', '=', '<', '>', '+', '-', '*', '/', '%', '^', '@'];

/** Splits a PromQL expression (possibly holding Grafana `$variables`) into tokens; comments are dropped. */
function tokenize(expr: string): Token[] {
  const tokens: Token[] = [];
  let i = 0;
  const take = (kind: Kind, end: number) => {
    tokens.push({ kind, text: expr.slice(i, end), start: i, end });
    i = end;
  };
  while (i < expr.length) {
    const c = expr[i];
    const rest = expr.slice(i);
    if (/\s/.test(c)) {
      i++;
    } else if (c === '#') {
      const nl = expr.indexOf('\n', i);
      i = nl < 0 ? expr.length : nl;
    } else if (c === '"' || c === "'" || c === '`') {
      let j = i + 1;
      while (j < expr.length && expr[j] !== c) j += expr[j] === '\\' && c !== '`' ? 2 : 1;
      if (j >= expr.length) throw new Error(`unterminated string at ${i} in: ${expr}`);
      take('string', j + 1);
    } else if (c === '$') {
      const m = /^\$(\{[^}]*\}|[A-Za-z0-9_]+)/.exec(rest);
      if (!m) throw new Error(`a lone '$' at ${i} in: ${expr}`);
      take('variable', i + m[0].length);
    } else if (/[0-9.]/.test(c)) {
      // Numbers and durations alike (0.9, 1e3, 0x1f, 5m, 1h30m): none is a name.
      const m = /^[0-9.][0-9A-Za-z._]*/.exec(rest);
      take('number', i + (m as RegExpExecArray)[0].length);
    } else if (/[A-Za-z_:]/.test(c)) {
      // Metric names may hold colons (recording rules); durations' colons sit in skipped brackets.
      const m = /^[A-Za-z_:][A-Za-z0-9_:]*/.exec(rest);
      take('ident', i + (m as RegExpExecArray)[0].length);
    } else {
      const p = PUNCTUATION.find((s) => rest.startsWith(s));
      if (!p) throw new Error(`unexpected '${c}' at ${i} in: ${expr}`);
      take('punct', i + p.length);
    }
  }
  return tokens;
}

/** The index of the token closing the bracket opened at `open`. */
function closing(tokens: Token[], open: number, expr: string): number {
  const pairs: Record<string, string> = { '(': ')', '{': '}', '[': ']' };
  const want = pairs[tokens[open].text];
  let depth = 0;
  for (let k = open; k < tokens.length; k++) {
    if (tokens[k].text === tokens[open].text) depth++;
    else if (tokens[k].text === want && --depth === 0) return k;
  }
  throw new Error(`unbalanced '${tokens[open].text}' at ${tokens[open].start} in: ${expr}`);
}

/** The `__name__` an equality matcher list names, if any. */
function nameMatcher(tokens: Token[]): string | null {
  for (let k = 0; k + 2 < tokens.length; k++) {
    if (tokens[k].text === '__name__' && tokens[k + 1].text === '=' && tokens[k + 2].kind === 'string') return tokens[k + 2].text.slice(1, -1);
  }
  return null;
}

/**
 * Every vector selector of `expr`, in order. Throws on a call of something that is no
 * function of Prometheus 2.42, on unbalanced brackets and on characters PromQL has no use for.
 */
export function vectorSelectors(expr: string): VectorSelector[] {
  const tokens = tokenize(expr);
  const open: Token[] = [];
  for (const tok of tokens) {
    if (tok.kind !== 'punct') continue;
    if ('({['.includes(tok.text)) open.push(tok);
    else if (')}]'.includes(tok.text) && '({['.indexOf(open.pop()?.text ?? '') !== ')}]'.indexOf(tok.text)) {
      throw new Error(`unbalanced '${tok.text}' at ${tok.start} in: ${expr}`);
    }
  }
  if (open.length > 0) throw new Error(`unclosed '${open[open.length - 1].text}' at ${open[open.length - 1].start} in: ${expr}`);
  const found: VectorSelector[] = [];
  let k = 0;
  while (k < tokens.length) {
    const tok = tokens[k];
    const next = tokens[k + 1];
    if (tok.text === '[') {
      k = closing(tokens, k, expr) + 1; // a range or subquery: durations only
    } else if (tok.text === '{') {
      // A selector with no name in front: counts only when it names __name__.
      const end = closing(tokens, k, expr);
      const name = nameMatcher(tokens.slice(k + 1, end));
      if (name) found.push({ name, text: expr.slice(tok.start, tokens[end].end) });
      k = end + 1;
    } else if (tok.kind !== 'ident') {
      k++;
    } else {
      const word = tok.text.toLowerCase();
      if (LABEL_LIST_KEYWORDS.has(word)) {
        k = next?.text === '(' ? closing(tokens, k + 1, expr) + 1 : k + 1;
      } else if (AGGREGATIONS.has(word) || OTHER_KEYWORDS.has(word)) {
        k++;
      } else if (next?.text === '(') {
        if (!PROMQL_FUNCTIONS.has(tok.text)) throw new Error(`'${tok.text}(' is no PromQL function (Prometheus 2.42) in: ${expr}`);
        k++;
      } else if (next?.text === '{') {
        const end = closing(tokens, k + 1, expr);
        found.push({ name: tok.text, text: expr.slice(tok.start, tokens[end].end) });
        k = end + 1;
      } else {
        found.push({ name: tok.text, text: tok.text });
        k++;
      }
    }
  }
  return found;
}

/** The distinct metric names `expr` selects. */
export function metricNames(expr: string): string[] {
  return [...new Set(vectorSelectors(expr).map((s) => s.name))];
}

/** The selector of a Grafana `label_values(selector, label)` variable query (null for `label_values(label)`). */
export function labelValuesSelector(query: string): string | null {
  const m = /^\s*label_values\(\s*(?:(.*\S)\s*,\s*)?([A-Za-z_][A-Za-z0-9_]*)\s*\)\s*$/s.exec(query);
  if (!m) throw new Error(`not a label_values(...) query: ${query}`);
  return m[1] ?? null;
}
