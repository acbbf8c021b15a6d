import { type CommandSpec, effectiveValue, isDeferred, type ParsedInvocation } from './_cli-spec';

/** The flags that make each command listen on a tcp port (its defaults come from the CLI). */
const PORT_FLAGS: Readonly<Record<string, readonly string[]>> = {
  coordinator: ['--port', '--metrics-port'],
  worker: ['--data-port', '--metrics-port'],
};

/**
 * The ports a facefill command line listens on, by the flag that sets each: the value passed
 * next to it, else the CLI's default. Throws when one is left to the shell (`$PORT`) or is 0
 * (any free port), since a container or a manifest must name it.
 */
export function listeningPorts(inv: ParsedInvocation, specs: ReadonlyMap<string, CommandSpec>): Map<string, number> {
  const ports = new Map<string, number>();
  for (const flag of PORT_FLAGS[inv.command] ?? []) {
    const value = effectiveValue(inv, specs, flag);
    if (value === undefined || isDeferred(value)) throw new Error(`${inv.origin}: ${flag} must be a literal port, got ${value}`);
    const port = Number(value);
    if (!Number.isInteger(port) || port <= 0) throw new Error(`${inv.origin}: ${flag} ${value}: a container must fix this port (0 means any free one)`);
    ports.set(flag, port);
  }
  return ports;
}

/** Splits `host:port` (the --coordinator value); throws naming the value otherwise. */
export function hostPort(value: string, where: string): { host: string; port: number } {
  const at = value.lastIndexOf(':');
  const port = Number(value.slice(at + 1));
  if (at <= 0 || !Number.isInteger(port) || port <= 0) throw new Error(`${where}: '${value}' is not host:port`);
  return { host: value.slice(0, at), port };
}
