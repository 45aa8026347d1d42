// The process-wide issuer: one thread that issues all CUDA stream work (stream handle operations, event
// records and waits, groups, queue programs) in the order JS enqueued it. CUDA streams are asynchronous queues
// already, so one thread suffices, never blocks on the device, and a wait on an earlier record needs no
// host-side rendezvous: the record was issued before it.
#pragma once

#include <functional>

namespace fr::issuer {

// Runs task on the issuer thread after everything posted before it. Starts the thread on first use.
void post(std::function<void()> task);

// Environment shutdown: stops the thread after its current task and drops the tasks not yet run. Communicators
// must have been aborted first, so that a task blocked inside NCCL returns.
void shutdown();

}  // namespace fr::issuer
