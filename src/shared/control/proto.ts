import { join } from 'node:path';
import * as grpc from '@grpc/grpc-js';
import * as protoLoader from '@grpc/proto-loader';
import type { ProtoGrpcType } from '../../generated/facefill';

/** Path of the control-plane definition, seen from this compiled file (dist/src/shared/control). */
export const PROTO_FILE = join(__dirname, '..', '..', '..', '..', 'proto', 'facefill.proto');

/**
 * The same options `npm run gen:proto` generates the TypeScript types with: 64-bit
 * integers as numbers, enums as strings, defaults filled in, camelCase field names.
 */
export const PROTO_OPTIONS: protoLoader.Options = { longs: Number, enums: String, defaults: true, oneofs: true, keepCase: false };

/** Loads the control-plane package (`facefill.v1`) with its generated types. */
export function loadControlProto(): ProtoGrpcType['facefill']['v1'] {
  const definition = protoLoader.loadSync(PROTO_FILE, PROTO_OPTIONS);
  return (grpc.loadPackageDefinition(definition) as unknown as ProtoGrpcType).facefill.v1;
}
