// The process-wide issuer: one thread that issues all CUDA stream work (stream handle operations, event
// records and waits, groups, queue programs) in the order JS enqueued it. CUDA streams are asynchronous queues
// already, so one thread keeps program order, never blocks on the device, and a wait on an earlier record needs
// no host-side rendezvous: the record was issued before it. Only the NCCL calls of a group that spans devices
// may go out a part per device, the issuer issuing the first and waiting for the others, each on its device's
// thread (cuda/nccl_group.cc).
#pragma once

#include <functional>
#include <memory>
#include <vector>

namespace fr::issuer {

// Runs task on the issuer thread after everything posted before it. Starts the thread on first use.
void post(std::function<void()> task);

// Runs items of one kind in batches: items posted with the same runner that the issuer finds queued one after
// the other go to one call of the runner, in posting order. Otherwise like post.
using BatchRunner = void (*)(std::vector<std::shared_ptr<void>>& items);
void postBatch(BatchRunner runner, std::shared_ptr<void> item);

// Environment shutdown: stops the thread after its current task and drops the tasks not yet run. Communicators
// must have been aborted first, so that a task blocked inside NCCL returns.
void shutdown();

}  // namespace fr::issuer
