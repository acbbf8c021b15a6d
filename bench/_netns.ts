import { execFileSync } from 'node:child_process';
import type { Placement } from './_cluster';

// Hosts made of network namespaces, for benches that need real links between processes. Every
// address is inside namespaces made here; deleting a namespace deletes its links. Needs root.
// Two layouts: a mesh of point-to-point links (one can be cut while both ends still reach the
// coordinator), and a switch (a bridge) with every host's link shaped to a set rate.

const run = (command: string, args: string[]): string => execFileSync(command, args, { stdio: 'pipe', timeout: 10_000, encoding: 'utf8' });
const ip = (...args: string[]): void => void run('ip', args);
const tc = (...args: string[]): void => void run('tc', args);

/** Why namespaces cannot be used here, or null when they can (root, `ip`, and a namespace can be made and removed). */
export function netnsUnavailable(): string | null {
  if (process.getuid?.() !== 0) return 'not root: ip netns needs root';
  const probe = `ffprobe${process.pid}`;
  try {
    ip('netns', 'add', probe);
  } catch (err) {
    return `cannot create a network namespace here (${(err as Error).message.split('\n')[0]})`;
  } finally {
    try {
      ip('netns', 'del', probe);
    } catch {
      // It was never made.
    }
  }
  return null;
}

/**
 * Network namespaces made one by one, each with its loopback up; {@link tearDown} removes them
 * all (their links and any process's network go with them), never throws, and is safe to call twice.
 */
class Namespaces {
  private made: string[] = [];

  add(ns: string): void {
    ip('netns', 'add', ns);
    this.made.push(ns);
    ip('-n', ns, 'link', 'set', 'lo', 'up');
  }

  tearDown(): void {
    for (const ns of this.made.reverse()) {
      try {
        ip('netns', 'del', ns);
      } catch {
        // Already gone.
      }
    }
    this.made = [];
  }
}

/**
 * Removes the namespaces of an earlier bench that ended without cleaning up: those named
 * `<prefix><pid>...` whose pid no longer runs, killing any process still inside them first.
 */
export function removeOrphanedNamespaces(prefix: string): string[] {
  const owner = new RegExp(`^${prefix}(\\d+)\\D`);
  const orphans = run('ip', ['netns', 'list'])
    .split('\n')
    .map((line) => line.split(' ')[0])
    .filter((ns) => {
      const pid = Number(owner.exec(ns)?.[1] ?? NaN);
      return Number.isSafeInteger(pid) && !alive(pid);
    });
  for (const ns of orphans) {
    for (const pid of run('ip', ['netns', 'pids', ns]).split('\n').filter(Boolean).map(Number)) {
      try {
        process.kill(pid, 'SIGKILL');
      } catch {
        // Gone meanwhile.
      }
    }
    ip('netns', 'del', ns);
  }
  return orphans;
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

interface Host {
  ns: string;
  /** The host's own address (on its loopback). */
  ip: string;
}

interface Link {
  a: number;
  b: number;
  /** Interface names in a's and b's namespace, and their addresses on the link's /30. */
  devA: string;
  devB: string;
  ipA: string;
  ipB: string;
}

/**
 * Hosts `[coordinator, worker 0, worker 1, ...]` in namespaces named `ff<tag>c`, `ff<tag>w<i>`,
 * joined by point-to-point veth links (coordinator to every worker, and every pair of workers).
 * Each host's address sits on its loopback with a /32 route to it over the direct link.
 * {@link tearDown} removes them all and never throws; it is safe to call twice.
 */
export class HostMesh {
  private readonly hosts: Host[];
  private readonly links: Link[] = [];
  private readonly namespaces = new Namespaces();

  constructor(tag: string, workers: number) {
    this.hosts = [{ ns: `ff${tag}c`, ip: '10.213.1.254' }, ...Array.from({ length: workers }, (_, i) => ({ ns: `ff${tag}w${i}`, ip: `10.213.1.${i + 1}` }))];
    for (let a = 0; a < this.hosts.length; a++) {
      for (let b = a + 1; b < this.hosts.length; b++) {
        const k = this.links.length;
        this.links.push({ a, b, devA: devTo(b), devB: devTo(a), ipA: `10.213.2.${4 * k + 1}`, ipB: `10.213.2.${4 * k + 2}` });
      }
    }
  }

  /** Creates the namespaces, links and routes; on any failure removes what it made and throws. */
  setUp(): void {
    try {
      for (const h of this.hosts) {
        this.namespaces.add(h.ns);
        ip('-n', h.ns, 'addr', 'add', `${h.ip}/32`, 'dev', 'lo');
      }
      for (const l of this.links) {
        ip('link', 'add', 'name', l.devA, 'netns', this.hosts[l.a].ns, 'type', 'veth', 'peer', 'name', l.devB, 'netns', this.hosts[l.b].ns);
        ip('-n', this.hosts[l.a].ns, 'addr', 'add', `${l.ipA}/30`, 'dev', l.devA);
        ip('-n', this.hosts[l.b].ns, 'addr', 'add', `${l.ipB}/30`, 'dev', l.devB);
        this.up(l);
      }
    } catch (err) {
      this.tearDown();
      throw err;
    }
  }

  /** Where a cluster's processes run on these hosts (the coordinator listens on port 7700 of its own). */
  placement(): Placement {
    const [c, ...workers] = this.hosts;
    return {
      address: `${c.ip}:7700`,
      coordinatorArgs: ['--port', '7700', '--bind', c.ip],
      coordinatorNetns: c.ns,
      worker: (i) => ({ netns: workers[i].ns, host: workers[i].ip }),
    };
  }

  /** Cuts the link between worker `i` and worker `j`: both ends go down (and their routes with them). */
  cut(i: number, j: number): void {
    const l = this.workerLink(i, j);
    ip('-n', this.hosts[l.a].ns, 'link', 'set', l.devA, 'down');
    ip('-n', this.hosts[l.b].ns, 'link', 'set', l.devB, 'down');
  }

  /** Mends a cut link: both ends up, the host routes back. */
  heal(i: number, j: number): void {
    this.up(this.workerLink(i, j));
  }

  /** Removes every namespace made (their links and any process's network go with them). Never throws. */
  tearDown(): void {
    this.namespaces.tearDown();
  }

  private up(l: Link): void {
    const [a, b] = [this.hosts[l.a], this.hosts[l.b]];
    ip('-n', a.ns, 'link', 'set', l.devA, 'up');
    ip('-n', b.ns, 'link', 'set', l.devB, 'up');
    // Sourced from the host's own address, so the other end replies to it over this link.
    ip('-n', a.ns, 'route', 'replace', `${b.ip}/32`, 'via', l.ipB, 'dev', l.devA, 'src', a.ip);
    ip('-n', b.ns, 'route', 'replace', `${a.ip}/32`, 'via', l.ipA, 'dev', l.devB, 'src', b.ip);
  }

  private workerLink(i: number, j: number): Link {
    const [a, b] = [Math.min(i, j) + 1, Math.max(i, j) + 1];
    const l = this.links.find((x) => x.a === a && x.b === b);
    if (!l || a === b) throw new Error(`no link between workers ${i} and ${j} (have ${this.hosts.length - 1} workers)`);
    return l;
  }
}

// The interface in one namespace that leads to host `k` (0 the coordinator).
const devTo = (k: number): string => (k === 0 ? 'to-c' : `to-w${k - 1}`);

/**
 * How every link to the switch is shaped: a token bucket (`tc tbf`) on both ends of the veth,
 * so that a host sends and receives at `mbit` each way, as a full-duplex NIC does.
 */
export interface LinkShape {
  mbit: number;
  /**
   * The bucket's size: what may leave at once above the rate. A bucket small for the kernel's
   * timers keeps the link below its rate (64 KiB at 1 Gbit/s carried 0.55 Gbit/s here, 1 ms of
   * the rate 0.92, TCP's headers included).
   */
  burstBytes: number;
  /** Longest a packet may wait in the bucket's queue (sets its length) before it is dropped. */
  latencyMs: number;
}

/** A link shape of `mbit` with a burst of 1 ms at that rate (at least 64 KiB, the largest packet veth hands over with GSO) and a 10 ms queue. */
export function shapeOf(mbit: number): LinkShape {
  return { mbit, burstBytes: Math.max(64 * 1024, Math.round((mbit * 1e6) / 8 / 1000)), latencyMs: 10 };
}

/**
 * Hosts `[coordinator, host 0, host 1, ...]` in namespaces `ff<tag>c`, `ff<tag>h<i>`, each with
 * one veth link (`eth0`) to a bridge in a switch namespace `ff<tag>s`, all on one /24, every link
 * shaped to `shape` on both ends. {@link tearDown} removes them all, never throws, and is safe
 * to call twice.
 */
export class SwitchedHosts {
  private readonly hosts: Host[];
  private readonly switchNs: string;
  private readonly namespaces = new Namespaces();

  constructor(
    tag: string,
    hosts: number,
    readonly shape: LinkShape,
  ) {
    this.switchNs = `ff${tag}s`;
    this.hosts = [{ ns: `ff${tag}c`, ip: '10.214.0.254' }, ...Array.from({ length: hosts }, (_, i) => ({ ns: `ff${tag}h${i}`, ip: `10.214.0.${i + 1}` }))];
  }

  /** Creates the switch, the hosts and their shaped links; on any failure removes what it made and throws. */
  setUp(): void {
    const { mbit, burstBytes, latencyMs } = this.shape;
    const tbf = ['root', 'tbf', 'rate', `${mbit}mbit`, 'burst', String(burstBytes), 'latency', `${latencyMs}ms`];
    try {
      this.namespaces.add(this.switchNs);
      ip('-n', this.switchNs, 'link', 'add', 'br0', 'type', 'bridge');
      ip('-n', this.switchNs, 'link', 'set', 'br0', 'up');
      this.hosts.forEach((h, k) => {
        const port = `p${k}`;
        this.namespaces.add(h.ns);
        ip('link', 'add', 'name', 'eth0', 'netns', h.ns, 'type', 'veth', 'peer', 'name', port, 'netns', this.switchNs);
        ip('-n', h.ns, 'addr', 'add', `${h.ip}/24`, 'dev', 'eth0');
        ip('-n', h.ns, 'link', 'set', 'eth0', 'up');
        ip('-n', this.switchNs, 'link', 'set', port, 'master', 'br0');
        ip('-n', this.switchNs, 'link', 'set', port, 'up');
        // Egress of the host's end shapes what it sends; egress of the switch's end, what it receives.
        tc('-n', h.ns, 'qdisc', 'add', 'dev', 'eth0', ...tbf);
        tc('-n', this.switchNs, 'qdisc', 'add', 'dev', port, ...tbf);
      });
    } catch (err) {
      this.tearDown();
      throw err;
    }
  }

  /** Host `i`'s namespace and address (not the coordinator's). */
  host(i: number): Host {
    if (i < 0 || i >= this.hosts.length - 1) throw new RangeError(`no host ${i} (have ${this.hosts.length - 1})`);
    return this.hosts[i + 1];
  }

  /** A cluster on these hosts: the coordinator (port 7700) on its own, worker i on host i. */
  placement(): Placement {
    const c = this.hosts[0];
    return {
      address: `${c.ip}:7700`,
      coordinatorArgs: ['--port', '7700', '--bind', c.ip],
      coordinatorNetns: c.ns,
      worker: (i) => ({ netns: this.host(i).ns, host: this.host(i).ip }),
    };
  }

  /** Removes every namespace made, the switch's too. Never throws. */
  tearDown(): void {
    this.namespaces.tearDown();
  }
}
