// The rendezvous store of a multi-process world: a TCP key-value server (rank 0) and one client per process.
// node:net only. Every frame is `u32 length (big-endian, bytes after the length) | u8 op | u32 request id | payload`;
// a frame longer than `maxFrameBytes` is refused before its body is read. A connection must first send HELLO with the
// job's token; a wrong token, an unknown op, a malformed payload, an oversized frame or a frame left truncated (the
// peer ends or stalls mid-frame) closes that connection only: the server and its other clients carry on.
//
// The code lives in ./store/: protocol.ts (frames, limits, errors), server.ts, client.ts.
export { DEFAULT_MAX_FRAME_BYTES, isLoopback } from './store/protocol.js';
export { RendezvousTimeoutError } from '../errors.js';
export { StoreServer, type StoreServerOptions } from './store/server.js';
export { StoreClient, type StoreClientOptions } from './store/client.js';
