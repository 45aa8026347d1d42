// The C interface between the addon and its optional Gloo plugin (fairring_gloo.so, built where the Debian
// package libgloo-dev is installed and loaded with dlopen): the addon loads and runs without Gloo, and only
// connect() on the CPU backend across processes needs it. The plugin knows nothing of Node-API or of the
// runtime: it connects a full mesh through a key-value store the addon provides, and moves bytes between ranks.
#pragma once

#include <cstddef>
#include <cstdint>

extern "C" {

// Bumped whenever anything below changes: the addon refuses a plugin built for another version.
#define FAIRRING_GLOO_ABI 1

// The rendezvous store, called from the thread running frg_connect. Each returns 0 on success, or writes a
// message into err (NUL-terminated, at most errlen bytes) and returns nonzero.
struct FrgStore {
  void* user;
  int (*set)(void* user, const char* key, const char* data, size_t bytes, char* err, size_t errlen);
  // Waits for the key to be set, for at most timeoutMs. *data is allocated with malloc; the caller frees it.
  int (*get)(void* user, const char* key, int64_t timeoutMs, char** data, size_t* bytes, char* err, size_t errlen);
};

// One point-to-point transfer. The k-th send from rank a to rank b with slot s meets the k-th receive on b from
// a with slot s.
struct FrgOp {
  int recv;  // 1: receive from peer into ptr; 0: send ptr to peer
  int peer;
  void* ptr;
  size_t bytes;
  uint64_t slot;
};

int frg_abi(void);
// Connects rank (of size ranks) to every other rank over TCP, binding to the address of `host`; keys in the
// store start with `prefix`. Returns a context, or null with the reason in err.
void* frg_connect(int rank, int size, const char* host, const char* prefix, const FrgStore* store, int64_t timeoutMs,
                  char* err, size_t errlen);
// Posts every op, then waits for all of them, each for at most timeoutMs. 0 on success.
int frg_run(void* ctx, const FrgOp* ops, size_t n, int64_t timeoutMs, char* err, size_t errlen);
// Makes every wait in frg_run return (with an error) now and later; safe from any thread.
void frg_abort(void* ctx);
void frg_close(void* ctx);
}
