import type { RunStatus__Output } from '../generated/facefill/v1/RunStatus';
import { ControlClient } from '../shared/control/client';
import type { CoordinatorLink } from './control-security';

/** Fetches a run's status from its coordinator. */
export async function fetchStatus(link: CoordinatorLink, timeoutMs: number): Promise<RunStatus__Output> {
  const client = new ControlClient(link.address, link.security);
  try {
    return await client.status(timeoutMs);
  } finally {
    client.close();
  }
}

const num = (v: number | null | undefined, digits = 3): string => (v === null || v === undefined || !Number.isFinite(v) ? '-' : v.toFixed(digits));

/** A run's status as text for the terminal: the run, the last step's losses, collapse state, and a row per worker. */
export function formatStatus(s: RunStatus__Output): string {
  const r = s.lastReport;
  const c = s.collapse;
  const lines = [
    `run ${s.runId}: ${s.state}, step ${s.step}/${s.steps}, ${num(s.imagesPerSecond, 1)} img/s, ring generation ${s.generation} (${s.ringEncryption === 'none' ? 'plaintext' : 'CURVE-encrypted'} ring)`,
    r
      ? `losses at step ${s.lastReportStep}: G ${num(r.gLoss)} (adversarial ${num(r.gAdversarialLoss)}, L2 ${num(r.gL2Loss)}), D real ${num(r.dLossReal)} fake ${num(r.dLossFake)}, D score real ${num(r.dScoreReal)} fake ${num(r.dScoreFake)}`
      : 'losses: no step reported yet',
    c?.collapsed
      ? `mode collapse: YES (score ${num(c.score, 2)}, ${c.events} event(s)): ${c.reason}`
      : `mode collapse: no (score ${num(c?.score, 2)}, ${c?.events ?? 0} event(s) so far)`,
    s.probe ? `validation probe: hole PSNR ${num(s.probe.holePsnrDb, 2)} dB, SSIM ${num(s.probe.ssim)}, output diversity ${num(s.probe.diversityRatio, 2)}` : 'validation probe: none yet',
    `latest merged checkpoint: ${s.latestCheckpoint || 'none yet'}`,
  ];
  if (s.error) lines.push(`error: ${s.error}`);
  for (const rec of s.recoveries) {
    const resumed = rec.step < 0 ? 'ring forming' : `resumed at step ${rec.step}, ${rec.lostSteps} steps lost, ${num(rec.seconds, 1)} s`;
    lines.push(`recovery (${rec.cause}) to generation ${rec.generation}: ${resumed}: ${rec.reason}`);
  }
  const header = ['rank', 'host', 'gpu', 'backend', 'device', 'state', 'step', 'heartbeat age'];
  const rows = s.workers.map((w) => [String(w.rank), w.host, w.gpu < 0 ? '-' : String(w.gpu), w.backend, w.device || '-', w.state, String(w.step), `${num(w.heartbeatAgeSeconds, 1)} s`]);
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((row) => row[i].length)));
  const line = (cells: string[]) => cells.map((cell, i) => cell.padEnd(widths[i])).join('  ').trimEnd();
  lines.push('', line(header), ...rows.map(line));
  return lines.join('\n');
}
