// The order in which the CUDA issuer issues queue programs: program order, except that NCCL groups of sends
// and receives only (of any size) are merged into one ncclGroupStart/ncclGroupEnd. When several slices'
// programs reach the issuer together (one flush of several slices, or flushes queued while the issuer was
// busy), each p2p stage of all of them costs one NCCL group instead of one per slice.
//
// What may move, and why it is safe:
// - a p2p group joins the open merge set ahead of plain records of its streams that follow earlier groups of
//   the set: those records then also cover the later slices' transfers (they complete later, never earlier),
//   and records keep their order on every stream;
// - a wait issues ahead of the set's groups and held records of its stream, once the record it names is issued:
//   work issued so far never depends on work not yet issued, so no cycle can form. That holds because a group
//   op is whole: it holds every item that its sends and receives pair with (the engine packs every local
//   rank's items of a stage into one group, and merging is on only where every rank is local). A program that
//   split a send and its receive into two group ops could deadlock here; mergeGroups > 1 requires whole groups;
// - nothing else moves past a held op of its stream: kernels, copies, timing records and other groups keep
//   program order; a timed group (one right after a timing start on its stream, in the same plan) is never
//   merged, since a merged group's streams wait for each other (a timed group may still wait behind a merge
//   set on one of its streams, which its timing then includes);
// - groups on one communicator keep program order (NCCL matches sends and receives per peer in that order);
//   only sends and receives merge, whose grouping may differ between ranks, unlike collectives'.
#pragma once

#include <cstdint>
#include <unordered_map>
#include <vector>

#include "queue.h"

namespace fr {

// One op of one iteration of one program.
struct PlanOp {
  const Program* program = nullptr;
  uint64_t iteration = 0;
  uint32_t op = 0;
  // Set by the plan when it first sees the op: a group right after a timing start on one of its streams.
  bool seen = false;
  bool timed = false;
  const QueueOp& get() const { return program->ops[op]; }
};

// Receives the plan: single ops, and merge sets (groups issued as one NCCL group), in issue order.
class PlanSink {
 public:
  virtual ~PlanSink() = default;
  virtual void single(const PlanOp& op) = 0;
  virtual void merged(const std::vector<PlanOp>& groups) = 0;
};

struct MergePolicy {
  size_t maxGroups = 1;              // groups per merge set at most (the Queue's mergeGroups; 1: no merging)
  size_t window = 1024;              // held ops at most before the open set is issued
};

class IssuePlan {
 public:
  IssuePlan(PlanSink& sink, MergePolicy policy) : sink_(sink), policy_(policy) {}
  // Ops in program order; each is issued now, joins the open merge set, or is held until the set is issued.
  void add(PlanOp op);
  // Issues everything still open or held.
  void finish();

 private:
  struct StreamState {
    // For this pass (until the open set is issued):
    bool inMerge = false;     // a group of the open set runs on it
    bool heldRecord = false;  // a plain record waits behind the set's group
    bool blocked = false;     // an op that may not move waits: everything after it on the stream waits too
    // For the plan: the last record offered on the stream starts a timing, so the next op is timed.
    bool timed = false;
  };
  struct CommState {
    bool inMerge = false;
    bool blocked = false;
  };
  struct RecordState {
    uint64_t firstOffered = UINT64_MAX;  // first record of the stream this plan saw
    uint64_t lastIssued = 0;
  };

  void offer(PlanOp& op);
  bool place(PlanOp& op);
  bool mergeable(const QueueOp& op, const Program& p) const;
  bool recordIssued(const QueueStream* s, uint64_t seq);
  void issue(const PlanOp& op);
  void closeOnce();

  PlanSink& sink_;
  MergePolicy policy_;
  std::vector<PlanOp> merge_;
  std::vector<PlanOp> held_, again_;
  std::unordered_map<const StreamImpl*, StreamState> streams_;
  std::unordered_map<const CommImpl*, CommState> comms_;
  std::unordered_map<const QueueStream*, RecordState> records_;
};

}  // namespace fr
