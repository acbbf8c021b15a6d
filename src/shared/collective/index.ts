// The collective package's public surface: the transport contract, the ring all-reduce and the
// reducer a worker hands to the Trainer, and the two transports.
export { type ChunkTag, type CollectiveOp, type ExpectedChunk, PHASES, type Phase, type Transport } from './api';
export { MemoryRing } from './memory-transport';
export { createAllReduce, DEFAULT_CHUNK_BYTES, type RingAllReduceOptions, ringAllReduce } from './ring-allreduce';
export { ringBroadcast } from './ring-broadcast';
export { type ZmqListener, ZmqTransport, type ZmqTransportOptions } from './zmq-transport';
