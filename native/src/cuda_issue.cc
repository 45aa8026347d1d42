// The CUDA issuer's runner of queue programs (queue.h, issueProgramsOnCuda): programs in order, or planned with
// merged groups where every rank is in this process.
#include <algorithm>
#include <vector>

#include "cuda/group_profile.h"
#include "cuda/nccl_group.h"
#include "issue_plan.h"
#include "queue.h"

namespace fr {

namespace {

// Issues a plan's ops on CUDA, from the issuer thread, each group over before the next op: where every rank is
// in this process the communicators are blocking (a group is over when ncclGroupEnd returns); elsewhere a
// group's communicators are polled until NCCL's own thread launched it (cuda::runGroup).
class CudaSink : public PlanSink {
 public:
  explicit CudaSink(Backend& backend) : backend_(backend) {}

  void single(const PlanOp& p) override {
    if (g_shuttingDown.load(std::memory_order_relaxed)) return;
    const QueueOp& op = p.get();
    const Program& prog = *p.program;
    if (op.code == QueueOpCode::Group) return cuda::runGroup(prog.items.data() + op.first, op.n);
    if (!issueOp(prog, op, p.iteration, backend_, inputs_)) {
      // The plan issues a wait only after its record: this would be a defect of the plan, not of the program.
      applyStatus(*op.stream->stream, Status::Fail("internal: a wait reached the issuer before its record"), "wait");
    }
  }

  void merged(const std::vector<PlanOp>& groups) override {
    if (g_shuttingDown.load(std::memory_order_relaxed)) return;
    // A group on a stream that has failed is issued alone (and skipped, failing its own streams): merged, it
    // would fail the others' streams too. Every group's sides were checked at submit, group op by group op.
    items_.clear();
    size_t merging = 0;
    const PlanOp* last = nullptr;
    for (const PlanOp& g : groups) {
      const QueueOp& op = g.get();
      const CollItem* first = g.program->items.data() + op.first;
      if (std::any_of(first, first + op.n, [](const CollItem& it) { return !it.stream->error.empty(); })) {
        cuda::runGroup(first, op.n);
        continue;
      }
      items_.insert(items_.end(), first, first + op.n);
      merging++;
      last = &g;
    }
    if (merging == 1) {
      const QueueOp& op = last->get();
      return cuda::runGroup(last->program->items.data() + op.first, op.n);
    }
    if (merging > 1) cuda::runGroup(items_.data(), items_.size());
  }

 private:
  Backend& backend_;
  std::vector<const void*> inputs_;
  std::vector<CollItem> items_;
};

}  // namespace

void issueProgramsOnCuda(std::vector<std::shared_ptr<void>>& batch) {
  // Only the issuer thread runs this. Never destroyed: the issuer thread may still run at exit.
  static CudaSink& sink = *new CudaSink(*cudaBackend());
  // Programs of one queue found queued together are planned together; a queue's policy says how they merge.
  for (size_t i = 0; i < batch.size();) {
    const QueueCore* core = static_cast<ProgramWork*>(batch[i].get())->core.get();
    MergePolicy policy;
    policy.maxGroups = core->mergeGroups;
    IssuePlan plan(sink, policy);
    // Without merging the plan is program order: issued as it comes, without the plan's bookkeeping.
    bool direct = policy.maxGroups == 1;
    const size_t from = i;
    const auto started = cuda::profile::enabled() ? cuda::profile::Clock::now() : cuda::profile::Clock::time_point();
    for (; i < batch.size() && static_cast<ProgramWork*>(batch[i].get())->core.get() == core; i++) {
      const Program& p = static_cast<ProgramWork*>(batch[i].get())->program;
      // At shutdown the rest is dropped (a replay may have billions of iterations).
      for (uint64_t it = 0; it < p.iterations && !g_shuttingDown.load(std::memory_order_relaxed); it++) {
        for (uint32_t op = 0; op < p.ops.size(); op++) {
          if (direct) {
            sink.single(PlanOp{&p, it, op});
          } else {
            plan.add(PlanOp{&p, it, op});
          }
        }
      }
    }
    plan.finish();
    if (cuda::profile::enabled()) cuda::profile::batch(started, i - from);
  }
}

}  // namespace fr
