// In-process communicators: a group of simulated ranks with NCCL's semantics. A rank's part waits (its stream
// on the CPU executor does) until every peer has arrived, and the last to arrive completes the collective for
// all; mismatched calls fail on every rank; nothing waits past the group's timeout.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "../runtime.h"

namespace fr::cpu {

struct CommGroup;

struct CpuComm final : CommImpl {
  std::shared_ptr<CommGroup> group;
  void abort() override;
  std::string asyncError() override;
};

struct Member {
  int rank;
  std::shared_ptr<DeviceImpl> device;
};

std::string newUniqueId();

// One call's part of an in-process communicator: its members joined at the call (on the JS thread), then
// awaited (off it) until every rank has joined. Joining at the call, not on a pool thread, lets any number of
// calls for one group meet, whatever the size of the thread pool their waits run on.
struct Joined {
  std::shared_ptr<CommGroup> group;
  std::vector<std::shared_ptr<CommImpl>> comms;
  std::string error;
};

// Joins the members to the group named by id (creating it on first use). Never waits.
Joined joinComms(const std::string& id, int nranks, const std::vector<Member>& members, int timeoutMs);

// Waits until all ranks of the group joined, or timeoutMs passes from this call; returns the comms, or none and
// the error. Runs off the JS thread.
std::vector<std::shared_ptr<CommImpl>> awaitComms(Joined& joined, int timeoutMs, std::string* error);

// Runs one rank's part of a group (the items one stream enqueued) from where p stands: sends are posted first,
// then collectives in order, then receives, then the sends are awaited, so any all-to-all pattern completes.
// Returns false while it waits for a peer; true once done, with the first failure in p.first. Across processes
// (Gloo), whose calls block, the part runs on a thread of its own meanwhile.
bool stepRankGroup(const CollItem* items, size_t n, GroupProgress& p);

}  // namespace fr::cpu
