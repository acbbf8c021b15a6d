// The collective package's public surface: the transport contract, the ring all-reduce and the
// reducer a worker hands to the Trainer, the two transports, and what secures the ZeroMQ one.
export { type ChunkTag, type CollectiveOp, type ExpectedChunk, PHASES, type Phase, type Transport } from './api';
export { MemoryRing } from './memory-transport';
export { createAllReduce, DEFAULT_CHUNK_BYTES, type RingAllReduceOptions, ringAllReduce } from './ring-allreduce';
export type { Compression } from './wire-reduction';
export { ringBroadcast } from './ring-broadcast';
export { IpcDirectory } from './ipc-directory';
export { newRingKeys, type RingKeys } from './ring-keys';
export { type RingPeers, type ZmqListener, type ZmqListenOptions, ZmqTransport, type ZmqTransportOptions } from './zmq-transport';
