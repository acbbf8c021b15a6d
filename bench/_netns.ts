import { execFileSync } from 'node:child_process';
import type { Placement } from './_cluster';

// A coordinator and its workers as separate "hosts": one network namespace each, joined by
// point-to-point veth links (coordinator to every worker, and every pair of workers), so that
// the link between two workers can be cut while both still reach the coordinator. Each host's
// address sits on its loopback with a /32 route to it over the direct link. Every address is
// inside namespaces made here; deleting a namespace deletes its links. Needs root.

const ip = (...args: string[]): void => {
  execFileSync('ip', args, { stdio: 'pipe', timeout: 10_000 });
};

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
 * Hosts `[coordinator, worker 0, worker 1, ...]` in namespaces named `ff<tag>c`, `ff<tag>w<i>`.
 * {@link tearDown} removes them all and never throws; it is safe to call twice.
 */
export class HostMesh {
  private readonly hosts: Host[];
  private readonly links: Link[] = [];
  private made: string[] = [];

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
        ip('netns', 'add', h.ns);
        this.made.push(h.ns);
        ip('-n', h.ns, 'link', 'set', 'lo', 'up');
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
    for (const ns of this.made.reverse()) {
      try {
        ip('netns', 'del', ns);
      } catch {
        // Already gone.
      }
    }
    this.made = [];
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
