/** One Dockerfile instruction, continuation lines joined and comment lines dropped. */
export interface DockerInstruction {
  /** Upper-case keyword: FROM, RUN, COPY, EXPOSE, ... */
  keyword: string;
  args: string;
}

/** One build stage: its base image (global ARG defaults substituted), its name, its instructions. */
export interface DockerStage {
  image: string;
  name: string | undefined;
  instructions: DockerInstruction[];
}

/** Parses a Dockerfile into its stages; the last one is the image that runs. */
export function parseDockerfile(text: string): DockerStage[] {
  const instructions = joinInstructions(text);
  const globalArgs = new Map<string, string>();
  const stages: DockerStage[] = [];
  for (const ins of instructions) {
    if (ins.keyword === 'FROM') {
      const m = /^(?:--platform=\S+\s+)?(\S+)(?:\s+AS\s+(\S+))?$/i.exec(ins.args);
      if (!m) throw new Error(`cannot read FROM ${ins.args}`);
      stages.push({ image: substitute(m[1], globalArgs), name: m[2], instructions: [] });
    } else if (stages.length === 0) {
      if (ins.keyword !== 'ARG') throw new Error(`${ins.keyword} before the first FROM`);
      const [name, value = ''] = ins.args.split('=', 2);
      globalArgs.set(name.trim(), value.trim());
    } else {
      stages[stages.length - 1].instructions.push(ins);
    }
  }
  return stages;
}

function joinInstructions(text: string): DockerInstruction[] {
  const out: DockerInstruction[] = [];
  let pending = '';
  for (const raw of text.split(/\r?\n/)) {
    const line = raw.trim();
    if (line.startsWith('#') || (line === '' && pending === '')) continue;
    const continued = line.endsWith('\\');
    pending += `${continued ? line.slice(0, -1) : line} `;
    if (continued) continue;
    const m = /^(\w+)\s+([\s\S]*)$/.exec(pending.trim());
    if (!m) throw new Error(`cannot read instruction: ${pending}`);
    out.push({ keyword: m[1].toUpperCase(), args: m[2].replace(/\s+/g, ' ').trim() });
    pending = '';
  }
  if (pending.trim() !== '') throw new Error(`Dockerfile ends inside a continued instruction: ${pending}`);
  return out;
}

function substitute(value: string, args: ReadonlyMap<string, string>): string {
  return value.replace(/\$\{(\w+)\}|\$(\w+)/g, (whole, braced: string | undefined, bare: string | undefined) => {
    const name = braced ?? bare ?? '';
    const v = args.get(name);
    if (v === undefined) throw new Error(`${whole}: no global ARG ${name} with a default`);
    return v;
  });
}

/** The words of an exec-form instruction (`["node", "dist/src/cli.js"]`); throws on the shell form. */
export function execForm(ins: DockerInstruction): string[] {
  const parsed: unknown = JSON.parse(ins.args);
  if (!Array.isArray(parsed) || !parsed.every((w): w is string => typeof w === 'string')) {
    throw new Error(`${ins.keyword} ${ins.args}: expected the exec form, a JSON array of strings`);
  }
  return parsed;
}

/** The instructions of a stage with a given keyword. */
export function instructionsOf(stage: DockerStage, keyword: string): DockerInstruction[] {
  return stage.instructions.filter((i) => i.keyword === keyword);
}
