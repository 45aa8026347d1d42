// In-process communicators: a group of simulated ranks with NCCL's semantics. A rank's call blocks only its
// own stream's worker until every peer has arrived; mismatched calls fail on every rank; nothing waits past
// the group's timeout.
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

// Runs one rank's part of a group (the items one stream enqueued): sends are posted first, then collectives in
// order, then receives, then the sends are awaited, so any all-to-all pattern completes.
Status runRankGroup(const CollItem* items, size_t n);

}  // namespace fr::cpu
