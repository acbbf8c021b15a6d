import * as grpc from '@grpc/grpc-js';
import { tokenMatches } from './run-token';

/** The metadata key a control-plane call carries the run token in, as `Bearer <token>`. */
export const TOKEN_METADATA_KEY = 'authorization';

/** The details of a refused call: the same whatever was sent, so that a refusal tells a guesser nothing. */
export const TOKEN_REFUSED_DETAILS = 'missing or wrong run token';

const BEARER = /^Bearer (.+)$/i;

/** A call the token check refused: which method, and the peer's address. */
export interface RefusedCall {
  method: string;
  peer: string;
}

/**
 * A server interceptor that lets a call through only when its metadata holds
 * `authorization: Bearer <token>`; any other call, of any kind (unary or streaming), ends with
 * UNAUTHENTICATED before its handler runs. The header is taken out of the metadata the
 * handler sees, so that no handler can log the token. `onRefused` hears each refusal (for a
 * log line or a metric).
 */
export function tokenInterceptor(token: string, onRefused?: (call: RefusedCall) => void): grpc.ServerInterceptor {
  return (method, call) =>
    new grpc.ServerInterceptingCall(call, {
      start: (next) =>
        next({
          onReceiveMetadata: (metadata, pass) => {
            if (tokenMatches(token, bearer(metadata))) {
              metadata.remove(TOKEN_METADATA_KEY);
              pass(metadata);
              return;
            }
            // Not passing the metadata on keeps the handler from starting: the call ends here.
            onRefused?.({ method: method.path, peer: call.getPeer() });
            call.sendStatus({ code: grpc.status.UNAUTHENTICATED, details: TOKEN_REFUSED_DETAILS, metadata: new grpc.Metadata() });
          },
        }),
    });
}

// Exactly one value: two authorization headers are an ambiguity, not a second chance.
function bearer(metadata: grpc.Metadata): string | null {
  const values = metadata.get(TOKEN_METADATA_KEY);
  if (values.length !== 1 || typeof values[0] !== 'string') return null;
  return BEARER.exec(values[0])?.[1] ?? null;
}
