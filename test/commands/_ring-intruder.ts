import { curveKeyPair, Push } from 'zeromq';
import { encodeFrame } from '../../src/shared/collective/frame';
import { PHASES } from '../../src/shared/collective/api';

/** A worker's ring socket as run.json lists it: where it listens, and its public key. */
export interface RingTarget {
  endpoint: string;
  publicKey: string;
}

/**
 * An outsider on the network pushing at ring sockets until `stop` aborts: from a plaintext
 * socket and from a CURVE socket with its own keypair (it even knows the target's public key),
 * garbage and well-formed frames of this ring (`run`) for every phase of the next steps, full of
 * 1e30s. Resolves with how many messages it handed to ZeroMQ.
 */
export async function pushIntruders(targets: readonly RingTarget[], run: string, fromStep: number, stop: AbortSignal): Promise<number> {
  const sockets = targets.flatMap((t) => {
    const plain = new Push({ linger: 0, sendHighWaterMark: 8, sendTimeout: 0 });
    const own = curveKeyPair();
    // A plaintext ring has no key to pose as its client with.
    const keyed = t.publicKey ? [new Push({ linger: 0, sendHighWaterMark: 8, sendTimeout: 0, curveServerKey: t.publicKey, curvePublicKey: own.publicKey, curveSecretKey: own.secretKey })] : [];
    for (const s of [plain, ...keyed]) s.connect(t.endpoint);
    return [plain, ...keyed];
  });
  const poison = new Float32Array(256).fill(1e30);
  let sent = 0;
  try {
    for (let step = fromStep; !stop.aborted; step++) {
      for (const s of sockets) {
        const frames = [[Buffer.from([1, 2, 3, 4])], ...PHASES.flatMap((phase) => [0, 1].map((round) => encodeFrame({ run, step, phase, round, chunk: 0 }, poison)))];
        for (const f of frames) {
          // A refused handshake leaves no peer to queue for: the send fails at once (sendTimeout 0).
          await s.send(f).then(() => sent++, () => undefined);
        }
      }
      await new Promise((r) => setTimeout(r, 20));
    }
  } finally {
    for (const s of sockets) s.close();
  }
  return sent;
}
