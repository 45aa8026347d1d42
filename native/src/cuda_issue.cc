// The CUDA issuer's runner of queue programs (queue.h, issueProgramsOnCuda): plans, merged groups, and groups
// left in flight while the issuer goes on.
#include <algorithm>
#include <chrono>
#include <deque>
#include <memory>
#include <unordered_set>

#include "cuda/group_profile.h"
#include "cuda/nccl_group.h"
#include "issue_plan.h"
#include "issuer.h"
#include "queue.h"

namespace fr {

namespace {

// Issues a plan's ops on CUDA, from the issuer thread. Where the queue is planned (every rank in this process),
// a group whose ncclGroupEnd returned ncclInProgress stays in flight while the issuer goes on (since the
// communicators of such a queue are blocking, session 12, none returns it: see docs/engine.md): NCCL's own thread
// launches it, and what comes after it is held only where it must follow it. An op waits while a group in
// flight, or an op held before it, names its stream (ops of a stream keep their order behind the group's
// kernels); a wait also waits for its record to be issued; a group also while a group in flight or held uses one
// of its communicators (NCCL matches calls per communicator in order, and takes none while one is in
// progress). Held ops go out in their order as the groups settle (pump). The collect and diffuse groups use
// different communicators, so one stage's group launches while the other's does; NCCL 2.28 starts a thread for
// every group of a nonblocking communicator, which the issuer used to wait for.
class CudaSink : public PlanSink {
 public:
  explicit CudaSink(Backend& backend) : backend_(backend) {}

  // Per batch: whether groups may stay in flight (a planned queue), and what keeps the batch's programs alive
  // for ops held past it.
  void begin(bool async, std::shared_ptr<void> keep) {
    if (!async) pump(true);
    async_ = async;
    keep_ = std::move(keep);
  }

  // After the batch: what is still in flight or held keeps its own programs alive, and nothing else is kept.
  void end() { keep_.reset(); }

  void single(const PlanOp& p) override {
    if (g_shuttingDown.load(std::memory_order_relaxed)) return;
    // Nothing in flight or held (always, for a direct queue): issued at once, with nothing to build.
    if (!async_ || (inFlight_.empty() && held_.empty())) return issueSingle(p, keep_);
    offer(Held{{p}, false, nullptr});
  }

  void merged(const std::vector<PlanOp>& groups) override {
    if (g_shuttingDown.load(std::memory_order_relaxed)) return;
    if (!async_ || (inFlight_.empty() && held_.empty())) return issueMerged(groups, keep_);
    offer(Held{groups, true, nullptr});
  }

  // Polls the groups in flight and issues the ops they held up, in order; with block, until no group is in
  // flight and nothing is held.
  void pump(bool block) {
    if (inFlight_.empty() && held_.empty()) return;
    // Asking NCCL takes the NCCL lock and a call per communicator: not more often than every few microseconds.
    auto now = std::chrono::steady_clock::now();
    if (!block && now - lastPoll_ < std::chrono::microseconds(5)) return;
    lastPoll_ = now;
    for (;;) {
      bool progress = false;
      for (size_t i = 0; i < inFlight_.size();) {
        if (cuda::pollGroup(*inFlight_[i])) {
          inFlight_.erase(inFlight_.begin() + static_cast<std::ptrdiff_t>(i));
          progress = true;
        } else {
          i++;
        }
      }
      if (progress || block) progress = release() || progress;
      if (!block || (inFlight_.empty() && held_.empty())) return;
      if (progress) continue;
      if (!inFlight_.empty()) {
        settleOldest();
      } else {
        // Nothing in flight holds it: a wait whose record was never issued, a defect of the plan, reported as such.
        Held first = std::move(held_.front());
        held_.pop_front();
        issue(first);
      }
    }
  }

 private:
  struct Held {
    std::vector<PlanOp> ops;  // one op, or the groups of a merged set
    bool mergedSet = false;
    std::shared_ptr<void> keep;
  };

  // What an entry touches: its streams, and its groups' communicators.
  template <typename F>
  static void touched(const Held& h, F&& visit) {
    for (const PlanOp& p : h.ops) {
      const QueueOp& op = p.get();
      if (op.code == QueueOpCode::Group) {
        const CollItem* first = p.program->items.data() + op.first;
        for (const CollItem* it = first; it != first + op.n; ++it) visit(it->stream, it->comm);
      } else {
        visit(op.stream->stream.get(), nullptr);
      }
    }
  }

  bool busy(const StreamImpl* s, const CommImpl* c) const {
    for (const auto& g : inFlight_) {
      if (std::find(g->streams.begin(), g->streams.end(), s) != g->streams.end()) return true;
      if (c != nullptr && std::find(g->comms.begin(), g->comms.end(), c) != g->comms.end()) return true;
    }
    return (s != nullptr && heldStreams_.count(s) > 0) || (c != nullptr && heldComms_.count(c) > 0);
  }

  // Whether the entry can go now: nothing in flight or held before it on its streams and communicators, and a
  // wait's record issued.
  bool ready(const Held& h) const {
    bool ok = true;
    touched(h, [&](const StreamImpl* s, const CommImpl* c) { ok = ok && !busy(s, c); });
    for (const PlanOp& p : h.ops) {
      const QueueOp& op = p.get();
      if (!ok || op.code != QueueOpCode::Wait) continue;
      std::lock_guard<std::mutex> lock(op.on->m);
      ok = op.on->issued >= op.seq + p.iteration * op.step;
    }
    return ok;
  }

  void hold(Held h) {
    touched(h, [&](const StreamImpl* s, const CommImpl* c) {
      heldStreams_.insert(s);
      if (c != nullptr) heldComms_.insert(c);
    });
    held_.push_back(std::move(h));
  }

  void offer(Held h) {
    if (ready(h)) return issue(h);
    h.keep = keep_;
    hold(std::move(h));
    pump(false);
    // A long batch (a replay) behind a group would otherwise be held whole: past kMaxHeld entries the oldest
    // group is waited for.
    while (held_.size() > kMaxHeld && !inFlight_.empty()) {
      settleOldest();
      release();
    }
  }

  // Waits for the group in flight longest and lets it go.
  void settleOldest() {
    cuda::settleGroup(*inFlight_.front());
    inFlight_.erase(inFlight_.begin());
  }

  // Issues the held entries that can go, in order; the ones that stay hold their streams and communicators
  // for those after them. Returns whether any went.
  bool release() {
    std::deque<Held> waiting;
    waiting.swap(held_);
    heldStreams_.clear();
    heldComms_.clear();
    bool any = false;
    for (Held& h : waiting) {
      if (g_shuttingDown.load(std::memory_order_relaxed)) break;
      if (ready(h)) {
        issue(h);
        any = true;
      } else {
        hold(std::move(h));
      }
    }
    return any;
  }

  void issue(const Held& h) {
    if (g_shuttingDown.load(std::memory_order_relaxed)) return;
    // A held entry keeps its own batch; one issued as it came, the batch being issued.
    const std::shared_ptr<void>& keep = h.keep ? h.keep : keep_;
    if (h.mergedSet) return issueMerged(h.ops, keep);
    issueSingle(h.ops.front(), keep);
  }

  void issueSingle(const PlanOp& p, const std::shared_ptr<void>& keep) {
    const QueueOp& op = p.get();
    const Program& prog = *p.program;
    if (op.code == QueueOpCode::Group) return startGroup(prog.items.data() + op.first, op.n, keep);
    if (!issueOp(prog, op, p.iteration, backend_, inputs_)) {
      // The plan issues a wait only after its record: this would be a defect of the plan, not of the program.
      applyStatus(*op.stream->stream, Status::Fail("internal: a wait reached the issuer before its record"), "wait");
    }
  }

  void issueMerged(const std::vector<PlanOp>& groups, const std::shared_ptr<void>& keep) {
    // A group on a stream that has failed is issued alone (and skipped, its streams failed): merged, it would
    // fail the others' streams too.
    std::vector<CollItem> items;
    size_t merging = 0;
    const PlanOp* last = nullptr;
    for (const PlanOp& g : groups) {
      const QueueOp& op = g.get();
      const CollItem* first = g.program->items.data() + op.first;
      if (std::any_of(first, first + op.n, [](const CollItem& it) { return !it.stream->error.empty(); })) {
        startGroup(first, op.n, keep);
        continue;
      }
      items.insert(items.end(), first, first + op.n);
      merging++;
      last = &g;
    }
    if (merging == 1) {
      const QueueOp& op = last->get();
      return startGroup(last->program->items.data() + op.first, op.n, keep);
    }
    if (merging > 1) startGroup(items.data(), items.size(), keep);
  }

  // `keep` holds the program the items come from, and with it their streams and communicators.
  void startGroup(const CollItem* items, size_t n, const std::shared_ptr<void>& keep) {
    std::unique_ptr<cuda::GroupInFlight> g = cuda::startGroup(items, n);
    if (!g) return;
    g->keep = keep;
    if (async_) {
      inFlight_.push_back(std::move(g));
    } else {
      cuda::settleGroup(*g);
    }
  }

  static constexpr size_t kMaxHeld = 1024;

  Backend& backend_;
  bool async_ = false;
  std::shared_ptr<void> keep_;
  std::vector<const void*> inputs_;
  std::vector<std::unique_ptr<cuda::GroupInFlight>> inFlight_;
  std::deque<Held> held_;
  std::chrono::steady_clock::time_point lastPoll_;
  std::unordered_set<const StreamImpl*> heldStreams_;
  std::unordered_set<const CommImpl*> heldComms_;
};

CudaSink& issuerSink();

// The issuer, about to run a task of another kind (block) or idle: the groups in flight settle and what they
// held goes out before anything else touches the streams.
void pumpIssuerSink(bool block) { issuerSink().pump(block); }

// The issuer's sink: groups in flight outlive a batch. Only the issuer thread touches it; made on its first
// batch, which also has the issuer pump it when idle.
CudaSink& issuerSink() {
  static CudaSink* sink = [] {
    issuer::setIdle(pumpIssuerSink);
    return new CudaSink(*cudaBackend());
  }();
  return *sink;
}

}  // namespace

void issueProgramsOnCuda(std::vector<std::shared_ptr<void>>& batch) {
  CudaSink& sink = issuerSink();
  auto keep = std::make_shared<std::vector<std::shared_ptr<void>>>(batch);
  // Programs of one queue found queued together are planned together; a queue's policy says how they merge.
  for (size_t i = 0; i < batch.size();) {
    const QueueCore* core = static_cast<ProgramWork*>(batch[i].get())->core.get();
    MergePolicy policy;
    policy.maxGroups = core->mergeGroups;
    IssuePlan plan(sink, policy);
    // Without merging the plan is program order: issued as it comes, without the plan's bookkeeping, and every
    // group settles before the next op.
    bool direct = policy.maxGroups == 1;
    sink.begin(!direct, keep);
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
    sink.pump(false);
    sink.end();
    if (cuda::profile::enabled()) cuda::profile::batch(started, i - from);
  }
}

}  // namespace fr
