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

// Joins the members to the group named by id (creating it on first use) and waits until all nranks ranks have
// joined, or timeoutMs passes. Runs off the JS thread.
std::vector<std::shared_ptr<CommImpl>> initComms(const std::string& id, int nranks, const std::vector<Member>& members,
                                                 int timeoutMs, std::string* error);

// Runs one rank's part of a group (the items one stream enqueued) from where p stands: sends are posted first,
// then collectives in order, then receives, then the sends are awaited, so any all-to-all pattern completes.
// Returns false while it waits for a peer; true once done, with the first failure in p.first. Across processes
// (Gloo), whose calls block, the part runs on a thread of its own meanwhile.
bool stepRankGroup(const CollItem* items, size_t n, GroupProgress& p);

}  // namespace fr::cpu
