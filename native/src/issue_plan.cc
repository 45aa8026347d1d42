#include "issue_plan.h"

namespace fr {

namespace {

bool isP2p(CollKind k) { return k == CollKind::Send || k == CollKind::Recv; }

}  // namespace

void IssuePlan::add(PlanOp op) {
  offer(op);
  while (merge_.size() >= policy_.maxGroups || held_.size() >= policy_.window) closeOnce();
}

void IssuePlan::finish() {
  while (!merge_.empty() || !held_.empty()) closeOnce();
}

void IssuePlan::offer(PlanOp& op) {
  if (!place(op)) held_.push_back(op);
}

bool IssuePlan::mergeable(const QueueOp& op, const Program& p) const {
  for (uint32_t j = op.first; j < op.first + op.n; j++) {
    const CollItem& it = p.items[j];
    if (!isP2p(it.kind)) return false;
  }
  return op.n > 0;
}

// Whether record seq of s is issued: one this plan has not seen was issued before it (a wait names an earlier
// record, and the plan sees ops in program order).
bool IssuePlan::recordIssued(const QueueStream* s, uint64_t seq) {
  const RecordState& r = records_[s];
  return seq < r.firstOffered || seq <= r.lastIssued;
}

// Issues the op now, joins it to the merge set, or holds it (false).
bool IssuePlan::place(PlanOp& p) {
  const QueueOp& op = p.get();
  if (op.code == QueueOpCode::Group) {
    const Program& prog = *p.program;
    if (!p.seen) {
      for (uint32_t j = op.first; j < op.first + op.n; j++) {
        StreamState& s = streams_[prog.items[j].stream];
        p.timed = p.timed || s.timed;
        s.timed = false;
      }
      p.seen = true;
    }
    bool merge = policy_.maxGroups > 1 && !p.timed && mergeable(op, prog) && merge_.size() < policy_.maxGroups;
    bool free = true;
    for (uint32_t j = op.first; j < op.first + op.n; j++) {
      const CollItem& it = prog.items[j];
      const StreamState& s = streams_[it.stream];
      const CommState& c = comms_[it.comm];
      if (s.blocked || c.blocked) free = false;
      if (!merge && (s.inMerge || s.heldRecord || c.inMerge)) free = false;
    }
    if (!free) {
      for (uint32_t j = op.first; j < op.first + op.n; j++) {
        streams_[prog.items[j].stream].blocked = true;
        comms_[prog.items[j].comm].blocked = true;
      }
      return false;
    }
    if (!merge) {
      issue(p);
      return true;
    }
    for (uint32_t j = op.first; j < op.first + op.n; j++) {
      streams_[prog.items[j].stream].inMerge = true;
      comms_[prog.items[j].comm].inMerge = true;
    }
    merge_.push_back(p);
    return true;
  }
  if (op.code == QueueOpCode::Record) {
    RecordState& r = records_[op.stream];
    if (r.firstOffered == UINT64_MAX) r.firstOffered = op.seq + p.iteration * op.step;
  }
  StreamState& s = streams_[op.stream->stream.get()];
  if (!p.seen) s.timed = op.code == QueueOpCode::Record && op.mode == 1;
  p.seen = true;
  if (s.blocked) return false;
  switch (op.code) {
    case QueueOpCode::Wait:
      if (recordIssued(op.on, op.seq + p.iteration * op.step)) break;
      s.blocked = true;
      return false;
    case QueueOpCode::Record:
      if (!s.inMerge && !s.heldRecord) break;
      if (op.mode == 0) {
        s.heldRecord = true;
      } else {
        s.blocked = true;
      }
      return false;
    default:
      if (!s.inMerge && !s.heldRecord) break;
      s.blocked = true;
      return false;
  }
  issue(p);
  return true;
}

void IssuePlan::issue(const PlanOp& p) {
  const QueueOp& op = p.get();
  if (op.code == QueueOpCode::Record) records_[op.stream].lastIssued = op.seq + p.iteration * op.step;
  sink_.single(p);
}

// Issues the merge set, then offers the held ops again, in program order, to a fresh pass.
void IssuePlan::closeOnce() {
  if (!merge_.empty()) sink_.merged(merge_);
  merge_.clear();
  for (auto& [stream, s] : streams_) s.inMerge = s.heldRecord = s.blocked = false;
  for (auto& [comm, c] : comms_) c = CommState();
  again_.swap(held_);
  held_.clear();
  for (PlanOp& op : again_) offer(op);
  again_.clear();
}

}  // namespace fr
