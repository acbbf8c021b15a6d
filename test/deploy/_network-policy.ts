import { list, optionalRecord, record, text } from './_deploy-files';

/** A pod as NetworkPolicies see it: its namespace and that namespace's labels, its own labels, and its container ports (named ports resolve against them). */
export interface PolicyPod {
  namespace: string;
  namespaceLabels: Readonly<Record<string, string>>;
  labels: Readonly<Record<string, string>>;
  ports?: readonly { name?: string; containerPort: number; protocol?: string }[];
}

/** A NetworkPolicy object and the namespace it was applied in. */
export interface AppliedPolicy {
  namespace: string;
  policy: Record<string, unknown>;
}

/** A new connection from one pod to another's port. */
export interface Connection {
  from: PolicyPod;
  to: PolicyPod;
  port: number;
  protocol?: 'TCP' | 'UDP' | 'SCTP';
}

/**
 * Whether the NetworkPolicies let a connection through, decided as the API defines it: the
 * destination, when some Ingress policy of its namespace selects it, takes only what one of
 * their rules admits; the source likewise for Egress. A rule admits a peer when it has no
 * `from`/`to` or one of them matches (a podSelector alone: pods of the policy's namespace; a
 * namespaceSelector: pods of the namespaces it selects; both: both), and a port when it has no
 * `ports` or one matches (protocol TCP by default, a named port resolved on the destination pod,
 * `endPort` a range). ipBlock peers are refused: pod-to-pod traffic is what is modelled here.
 */
export function connectionAllowed(policies: readonly AppliedPolicy[], c: Connection): boolean {
  return sideAllows(policies, 'Ingress', c.to, c.from, c) && sideAllows(policies, 'Egress', c.from, c.to, c);
}

function sideAllows(policies: readonly AppliedPolicy[], type: 'Ingress' | 'Egress', subject: PolicyPod, peer: PolicyPod, c: Connection): boolean {
  const isolating = policies.filter((p) => p.namespace === subject.namespace && policyTypes(p).includes(type) && selectorMatches(spec(p).podSelector ?? {}, subject.labels, `${nameOf(p)} podSelector`));
  if (isolating.length === 0) return true;
  return isolating.some((p) => {
    const rules = list(type === 'Ingress' ? spec(p).ingress : spec(p).egress, `${nameOf(p)} ${type.toLowerCase()}`).map((r, i) => record(r, `${nameOf(p)} rule ${i}`));
    return rules.some((rule) => {
      const peers = list(type === 'Ingress' ? rule.from : rule.to, `${nameOf(p)} peers`);
      const peerOk = peers.length === 0 || peers.some((x) => peerMatches(record(x, `${nameOf(p)} peer`), p.namespace, peer, nameOf(p)));
      const ports = list(rule.ports, `${nameOf(p)} ports`);
      const portOk = ports.length === 0 || ports.some((x) => portMatches(record(x, `${nameOf(p)} port`), c, nameOf(p)));
      return peerOk && portOk;
    });
  });
}

function spec(p: AppliedPolicy): Record<string, unknown> {
  return record(p.policy.spec, `${nameOf(p)} spec`);
}

function nameOf(p: AppliedPolicy): string {
  return `NetworkPolicy ${text(record(p.policy.metadata, 'metadata').name, 'metadata.name')}`;
}

/** The policy's types: as written, else Ingress, plus Egress when it has egress rules. */
function policyTypes(p: AppliedPolicy): string[] {
  const s = spec(p);
  if (s.policyTypes !== undefined) return list(s.policyTypes, `${nameOf(p)} policyTypes`).map((t) => text(t, 'policyType'));
  return s.egress === undefined ? ['Ingress'] : ['Ingress', 'Egress'];
}

function peerMatches(peer: Record<string, unknown>, policyNamespace: string, pod: PolicyPod, where: string): boolean {
  if (peer.ipBlock !== undefined) throw new Error(`${where}: ipBlock peers are not modelled`);
  const podSelector = optionalRecord(peer.podSelector, `${where} podSelector`);
  const namespaceSelector = optionalRecord(peer.namespaceSelector, `${where} namespaceSelector`);
  if (!podSelector && !namespaceSelector) throw new Error(`${where}: a peer needs a podSelector, a namespaceSelector or an ipBlock`);
  const namespaceOk = namespaceSelector ? selectorMatches(namespaceSelector, pod.namespaceLabels, `${where} namespaceSelector`) : pod.namespace === policyNamespace;
  return namespaceOk && (!podSelector || selectorMatches(podSelector, pod.labels, `${where} podSelector`));
}

function portMatches(entry: Record<string, unknown>, c: Connection, where: string): boolean {
  const protocol = entry.protocol === undefined ? 'TCP' : text(entry.protocol, `${where} protocol`);
  if (protocol !== (c.protocol ?? 'TCP')) return false;
  if (entry.port === undefined) return true;
  if (typeof entry.port === 'string' && !/^\d+$/.test(entry.port)) {
    // A named port is the destination container's port of that name and protocol.
    return (c.to.ports ?? []).some((p) => p.name === entry.port && (p.protocol ?? 'TCP') === protocol && p.containerPort === c.port);
  }
  const first = Number(entry.port);
  const last = entry.endPort === undefined ? first : Number(entry.endPort);
  return c.port >= first && c.port <= last;
}

/** Whether a label selector (matchLabels and matchExpressions; empty selects everything) selects these labels. */
export function selectorMatches(selector: unknown, labels: Readonly<Record<string, string>>, where: string): boolean {
  const s = record(selector, where);
  const matchLabels = optionalRecord(s.matchLabels, `${where} matchLabels`) ?? {};
  if (!Object.entries(matchLabels).every(([k, v]) => labels[k] === text(v, `${where} matchLabels.${k}`))) return false;
  return list(s.matchExpressions, `${where} matchExpressions`).every((e) => {
    const expr = record(e, `${where} matchExpressions[]`);
    const key = text(expr.key, `${where} key`);
    const values = list(expr.values, `${where} values`).map((v) => text(v, `${where} value`));
    const has = Object.hasOwn(labels, key);
    switch (expr.operator) {
      case 'In':
        return has && values.includes(labels[key]);
      case 'NotIn':
        return !has || !values.includes(labels[key]);
      case 'Exists':
        return has;
      case 'DoesNotExist':
        return !has;
      default:
        throw new Error(`${where}: unknown operator ${String(expr.operator)}`);
    }
  });
}
