import type { Command, Option } from 'commander';

/** One flag of a facefill command, as the CLI itself declares it. */
export interface FlagSpec {
  /** `--data-port`, or `-h` for a short-only spelling. */
  name: string;
  /** Takes a value (`--port <n>`) rather than being a switch (`--exit-when-done`). */
  takesValue: boolean;
  /** Must be given (a commander requiredOption). */
  mandatory: boolean;
  /** May be given more than once (its default is a list, as `--set`'s). */
  repeatable: boolean;
  /** The value used when the flag is absent. */
  defaultValue: unknown;
  /** Converts a value as the CLI does (whole numbers, choices); throws on a bad one. */
  parse(value: string): unknown;
}

/** One facefill command: its flags by every spelling, and whether it takes positional arguments. */
export interface CommandSpec {
  name: string;
  flags: ReadonlyMap<string, FlagSpec>;
  takesArguments: boolean;
}

const HELP: FlagSpec = { name: '--help', takesValue: false, mandatory: false, repeatable: false, defaultValue: undefined, parse: (v) => v };

/** Reads every command of the CLI and its flags from the commander program (never from its help text). */
export function readCommandSpecs(program: Command): ReadonlyMap<string, CommandSpec> {
  const specs = new Map<string, CommandSpec>();
  for (const cmd of program.commands) {
    const flags = new Map<string, FlagSpec>([
      ['--help', HELP],
      ['-h', HELP],
    ]);
    for (const opt of cmd.options) {
      const spec = flagSpec(opt);
      if (opt.long) flags.set(opt.long, spec);
      if (opt.short) flags.set(opt.short, spec);
    }
    specs.set(cmd.name(), { name: cmd.name(), flags, takesArguments: cmd.registeredArguments.length > 0 });
  }
  return specs;
}

function flagSpec(opt: Option): FlagSpec {
  const defaultValue: unknown = opt.defaultValue;
  return {
    name: opt.long ?? opt.short ?? opt.flags,
    takesValue: opt.required || opt.optional,
    mandatory: opt.mandatory,
    repeatable: Array.isArray(defaultValue),
    defaultValue,
    parse: (value) => (opt.parseArg ? opt.parseArg<unknown>(value, defaultValue) : value),
  };
}

/** A facefill command line found in a deployment file: the words after `facefill` (or `node dist/src/cli.js`). */
export interface Invocation {
  /** Where it was found, for messages: a file and the service, container or line. */
  origin: string;
  argv: readonly string[];
}

/** A command line the CLI would accept: its command, each flag's values, and the words after `--`. */
export interface ParsedInvocation {
  origin: string;
  command: string;
  /** Values by the flag's canonical name (its long spelling); a switch has the value ''. */
  values: ReadonlyMap<string, readonly string[]>;
  passthrough: readonly string[];
}

/** A value left for the shell or Kubernetes to fill in (`$DATA`, `$(POD_IP)`), so not checked here. */
export function isDeferred(value: string): boolean {
  return value.includes('$');
}

/** Flags `facefill workers` sets on every worker itself (its own security flags among them): a worker flag after `--` must not repeat them. */
export const LAUNCHER_SET_FLAGS: readonly string[] = ['--join', '--coordinator', '--insecure', '--tls-cert', '--tls-key', '--gpu', '--metrics-port'];

/**
 * Checks one command line against the CLI: a real command, only its flags, values its parsers
 * accept, every mandatory flag present, nothing repeated that cannot be. Returns the problems
 * (each naming the origin) and, when there are none, the parsed invocation.
 */
export function parseInvocation(inv: Invocation, specs: ReadonlyMap<string, CommandSpec>): { problems: string[]; parsed?: ParsedInvocation } {
  const problems: string[] = [];
  const bad = (message: string) => problems.push(`${inv.origin}: ${message}`);
  const [command, ...rest] = inv.argv;
  if (command === undefined) return { problems: [`${inv.origin}: no command`] };
  if (command.startsWith('-')) {
    // Top-level flags only (an image's default CMD): the program declares nothing but --help.
    for (const word of inv.argv) if (word !== '--help' && word !== '-h') bad(`'${word}' is not a top-level flag of facefill`);
    return { problems, parsed: problems.length === 0 ? { origin: inv.origin, command: '', values: new Map(), passthrough: [] } : undefined };
  }
  const spec = specs.get(command);
  if (!spec) return { problems: [`${inv.origin}: '${command}' is not a facefill command (known: ${[...specs.keys()].join(', ')})`] };
  const values = new Map<string, string[]>();
  const passthrough: string[] = [];
  for (let i = 0; i < rest.length; i++) {
    const word = rest[i];
    if (word === '--') {
      passthrough.push(...rest.slice(i + 1));
      break;
    }
    if (!word.startsWith('-')) {
      if (spec.takesArguments) passthrough.push(word);
      else bad(`facefill ${command} takes no argument '${word}'`);
      continue;
    }
    const eq = word.indexOf('=');
    const name = eq > 0 ? word.slice(0, eq) : word;
    const flag = spec.flags.get(name);
    if (!flag) {
      bad(`facefill ${command} has no flag ${name}`);
      continue;
    }
    let value = '';
    if (flag.takesValue) {
      if (eq > 0) value = word.slice(eq + 1);
      else if (i + 1 < rest.length) value = rest[++i];
      else {
        bad(`${name} needs a value`);
        continue;
      }
      if (!isDeferred(value)) {
        try {
          flag.parse(value);
        } catch (err) {
          bad(`${name} ${value}: ${(err as Error).message}`);
        }
      }
    } else if (eq > 0) {
      bad(`${name} is a switch and takes no value`);
    }
    const seen = values.get(flag.name) ?? [];
    if (seen.length > 0 && !flag.repeatable) bad(`${flag.name} is given twice`);
    values.set(flag.name, [...seen, value]);
  }
  for (const flag of new Set(spec.flags.values())) {
    if (flag.mandatory && !values.has(flag.name)) bad(`facefill ${command} needs ${flag.name}`);
  }
  if (passthrough.length > 0 && command === 'workers') {
    const inner = parseInvocation({ origin: `${inv.origin} (worker flags after --)`, argv: ['worker', ...passthrough] }, specs);
    problems.push(...inner.problems);
    for (const name of LAUNCHER_SET_FLAGS) {
      if (inner.parsed?.values.has(name)) bad(`${name} after -- would override the one facefill workers sets on each worker`);
    }
  }
  return { problems, parsed: problems.length === 0 ? { origin: inv.origin, command, values, passthrough } : undefined };
}

/** The value a command runs with for a flag: the last one given, else the CLI's default (as text). */
export function effectiveValue(inv: ParsedInvocation, specs: ReadonlyMap<string, CommandSpec>, flag: string): string | undefined {
  const given = inv.values.get(flag);
  if (given && given.length > 0) return given[given.length - 1];
  const fallback = specs.get(inv.command)?.flags.get(flag)?.defaultValue;
  return fallback === undefined ? undefined : String(fallback);
}

/**
 * Every value a command line gives a flag that takes one (`--name v` or `--name=v`), after `--`
 * too, read from the words alone: for checks that must hold whatever flags the CLI declares.
 */
export function rawFlagValues(argv: readonly string[], name: string): string[] {
  const values: string[] = [];
  for (let i = 0; i < argv.length; i++) {
    if (argv[i] === name && i + 1 < argv.length) values.push(argv[++i]);
    else if (argv[i].startsWith(`${name}=`)) values.push(argv[i].slice(name.length + 1));
  }
  return values;
}
