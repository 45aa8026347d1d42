// Execution of queue programs and the harvest of their records (queue.h).
#include <algorithm>
#include <cmath>
#include <type_traits>

#include "queue.h"

namespace fr {

namespace {

void issueRecord(QueueStream& q, uint64_t seq, uint8_t mode, uint64_t startSeq, Backend& backend) {
  StreamImpl& st = *q.stream;
  QueueRecord r{seq, startSeq, nullptr, 0, mode};
  bool cuda = st.device->kind == BackendKind::Cuda;
  if (cuda && st.error.empty()) {
    std::vector<void*>& pool = mode == 0 ? q.plainEvents : q.timingEvents;
    {
      std::lock_guard<std::mutex> lock(q.m);
      if (!pool.empty()) {
        r.event = pool.back();
        pool.pop_back();
      }
    }
    std::string error;
    if (r.event == nullptr) r.event = backend.rawEventCreate(*st.device, mode != 0, &error);
    Status s = r.event == nullptr ? Status::Fail(error) : backend.rawEventRecord(st, r.event);
    applyStatus(st, s, "record");
    if (!s.ok() && r.event != nullptr) {
      std::lock_guard<std::mutex> lock(q.m);
      pool.push_back(r.event);
      r.event = nullptr;
    }
  } else if (!cuda) {
    r.cpuMs = steadyClockMs();
  }
  {
    std::lock_guard<std::mutex> lock(q.m);
    q.issued = seq;
    if (!st.error.empty() && q.failedFrom == 0) {
      q.failedFrom = seq;
      q.error = st.error;
    }
    q.pending.push_back(r);
    ++*q.unharvested;
    if (mode == 2) ++*q.timingEnds;
  }
  if (r.event != nullptr) {
    noteDeviceRecord();
  } else {
    kickWatchers();
  }
}

// Later work on `q` waits for record seq of `on`. Returns false while the record has not been reached (CPU:
// it is behind other work of its stream); CUDA waits on the device (the issuer issued the record before, in
// program order).
bool issueWait(QueueStream& q, QueueStream& on, uint64_t seq, Backend& backend) {
  StreamImpl& st = *q.stream;
  if (!st.error.empty()) return true;
  void* event = nullptr;
  {
    std::lock_guard<std::mutex> lock(on.m);
    if (on.issued < seq) return false;
    if (on.failedFrom != 0 && seq >= on.failedFrom) {
      st.error = "waited on a failed record of stream " + std::to_string(on.index) + ": " + on.error;
      return true;
    }
    if (on.completed >= seq || st.device->kind == BackendKind::Cpu) return true;
    event = on.pending[seq - on.pending.front().seq].event;
  }
  // The event cannot be re-recorded before this wait is issued: only this thread takes events from the pool.
  applyStatus(st, backend.rawStreamWait(st, event), "wait");
  return true;
}

}  // namespace

bool issueOp(const Program& p, const QueueOp& op, uint64_t i, Backend& backend, std::vector<const void*>& inputs) {
  switch (op.code) {
    case QueueOpCode::Wait:
      return issueWait(*op.stream, *op.on, op.seq + i * op.step, backend);
    case QueueOpCode::Record:
      issueRecord(*op.stream, op.seq + i * op.step, op.mode, op.startSeq, backend);
      break;
    case QueueOpCode::Copy: {
      StreamImpl& st = *op.stream->stream;
      if (!st.error.empty() || op.size == 0) break;
      applyStatus(st, backend.copy(st, op.dst, op.src, op.size), "copy");
      break;
    }
    case QueueOpCode::Reduce: {
      StreamImpl& st = *op.stream->stream;
      if (!st.error.empty() || op.size == 0) break;
      inputs.assign(p.srcs.begin() + op.first, p.srcs.begin() + op.first + op.n);
      applyStatus(st, backend.reduce(st, op.dst, inputs, op.size, op.dtype, op.redop, op.divisor), "reduce");
      break;
    }
    case QueueOpCode::Group:
      break;
  }
  return true;
}

static_assert(std::is_trivially_copyable_v<ProgramStep> && sizeof(ProgramStep) <= 2 * sizeof(void*),
              "a Step must hold a ProgramStep in place");

StepResult ProgramStep::operator()(StreamImpl&) const {
  // A part that throws is done too (the executor fails its stream): the last part done frees the program.
  auto finish = [p = program] {
    if (--p->unfinished == 0) delete p;
  };
  StepResult r;
  try {
    r = runPart(*program, program->parts[part], cpuBackend());
  } catch (...) {
    finish();
    throw;
  }
  if (r == StepResult::Done) finish();
  return r;
}

StepResult runPart(CpuProgram& p, CpuProgram::Part& part, Backend& backend) {
  ProgramCursor& at = part.at;
  const Program& prog = p.program;
  const uint64_t fromIteration = at.iteration, fromGroup = at.group.mark();
  const size_t fromOp = at.op;
  auto waiting = [&] {
    bool moved = at.iteration != fromIteration || at.op != fromOp || at.group.mark() != fromGroup;
    return moved ? StepResult::Advanced : StepResult::Waiting;
  };
  // The executor's one thread reuses the reduce's list of inputs.
  thread_local std::vector<const void*> inputs;
  const size_t n = part.end - part.begin;
  for (; at.iteration < prog.iterations; at.iteration++, at.op = 0) {
    uint64_t i = at.iteration;
    for (; at.op < n; at.op++) {
      if (g_shuttingDown.load(std::memory_order_relaxed)) return StepResult::Done;
      const CpuProgram::Entry& e = p.entries[part.begin + at.op];
      const QueueOp& op = prog.ops[e.op];
      if (op.code == QueueOpCode::Group) {
        if (!backend.stepGroup(prog.items.data() + e.first, e.n, at.group)) return waiting();
        at.group = GroupProgress();
        continue;
      }
      if (!issueOp(prog, op, i, backend, inputs)) return waiting();
    }
  }
  return StepResult::Done;
}

QueueStream::~QueueStream() {
  if (stream->device->kind != BackendKind::Cuda) return;
  Backend& backend = *cudaBackend();
  for (void* e : plainEvents) backend.rawEventDestroy(e);
  for (void* e : timingEvents) backend.rawEventDestroy(e);
  for (const auto& r : pending) {
    if (r.event != nullptr) backend.rawEventDestroy(r.event);
  }
  for (const auto& r : starts) {
    if (r.event != nullptr) backend.rawEventDestroy(r.event);
  }
}

void addToReport(QueueCore& q, QueueStream& s, QueueReport& report) {
  report.done.insert(report.done.end(), {static_cast<double>(s.index), static_cast<double>(s.completed),
                                         static_cast<double>(s.failedFrom)});
  report.errors.push_back(s.error);
  report.timings.insert(report.timings.end(), q.timings.begin(), q.timings.end());
  q.timings.clear();
  s.sent = s.completed;
  s.failureSent = s.failedFrom != 0;
  if (s.completed >= s.wanted) s.wanted = kNotWanted;  // a report for another reason (a failure, a timing) keeps the ask
}

void sendReport(QueueCore& q, QueueReport& part) {
  std::lock_guard<std::mutex> lock(q.reportM);
  if (q.unsent == nullptr) {
    auto* report = new QueueReport(std::move(part));
    if (q.tsfn.NonBlockingCall(report) == napi_ok) {
      q.unsent = report;
    } else {
      delete report;
    }
  } else {
    QueueReport& to = *q.unsent;
    for (size_t i = 0; i < part.errors.size(); i++) {
      size_t at = 0;
      while (at < to.errors.size() && to.done[3 * at] != part.done[3 * i]) at++;
      if (at == to.errors.size()) {
        to.done.resize(to.done.size() + 3);
        to.errors.emplace_back();
      }
      std::copy(part.done.begin() + 3 * i, part.done.begin() + 3 * i + 3, to.done.begin() + 3 * at);
      to.errors[at] = std::move(part.errors[i]);
    }
    to.timings.insert(to.timings.end(), part.timings.begin(), part.timings.end());
  }
  part.done.clear();
  part.errors.clear();
  part.timings.clear();
}

namespace {

// An anchor whose record and poll took longer places starts too loosely (up to half of it either way): their
// starts are then reported as unknown (NaN).
constexpr double kMaxAnchorSpreadMs = 0.1;

// A device's clock anchor for one pass (Backend::rawAnchor); ok false when it could not be taken.
struct PassAnchor {
  int ordinal;
  bool ok;
  void* event;
  double hostMs;
};

// At most this many of a stream's pending records are asked about per pass; the rest wait for the next one.
constexpr size_t kPeekBatch = 64;

// What a pass learned of one stream's pending records before it took any lock to harvest them.
struct StreamPeek {
  DeviceImpl* device = nullptr;  // the stream's (alive while the queue is, which the watcher holds)
  size_t done = 0;               // leading pending records seen complete
  std::string error;             // the failure of the record after them, when its query failed
  uint64_t lastTimingEnd = 0;    // the last timing end among the done ones (0: none)
};

// The CUDA part of a pass that asks the devices, with no lock held: the issuer appends records under a stream's
// lock and JS's `want` takes the queue's, so a pass that queried under them made both wait out its queries.
// The events of pending records are neither reused nor destroyed meanwhile: only the harvest, on this thread,
// pops records and returns their events to the pools. peeks[i] is about q.streams[i].
void peekCompleted(QueueCore& q, Backend& backend, std::vector<StreamPeek>& peeks) {
  struct Peeked {
    void* event;
    uint64_t seq;
    uint8_t mode;
  };
  thread_local std::vector<QueueStream*> streams;
  thread_local std::vector<Peeked> records;
  streams.clear();
  {
    std::lock_guard<std::mutex> coreLock(q.m);
    for (const auto& sp : q.streams) streams.push_back(sp.get());
  }
  peeks.resize(streams.size());
  for (size_t i = 0; i < streams.size(); i++) {
    QueueStream& s = *streams[i];
    StreamPeek& p = peeks[i];
    p.device = s.stream->device.get();
    p.done = 0;
    p.error.clear();
    p.lastTimingEnd = 0;
    records.clear();
    {
      std::lock_guard<std::mutex> lock(s.m);
      for (const QueueRecord& r : s.pending) {
        if ((s.failedFrom != 0 && r.seq >= s.failedFrom) || records.size() == kPeekBatch) break;
        records.push_back(Peeked{r.event, r.seq, r.mode});
      }
    }
    for (const Peeked& r : records) {
      if (!backend.rawEventQuery(r.event, &p.error)) break;
      p.done++;
      if (r.mode == 2) p.lastTimingEnd = r.seq;
    }
  }
}

// Before a pass harvests CUDA timing ends: one clock anchor per device with a timing end among the records seen
// complete, recorded after they completed. The pass harvests no timing end past those (one that completed after
// the peek waits for the next pass), so every start it places came before its anchor and is a short, positive
// elapsed time from it.
void anchorPass(Backend& backend, const std::vector<StreamPeek>& peeks, std::vector<PassAnchor>& anchors) {
  for (const StreamPeek& p : peeks) {
    if (p.lastTimingEnd == 0) continue;
    const int ordinal = p.device->ordinal;
    if (std::any_of(anchors.begin(), anchors.end(), [&](const PassAnchor& a) { return a.ordinal == ordinal; })) continue;
    PassAnchor a{ordinal, false, nullptr, 0};
    double spreadMs = 0;
    std::string error;
    a.ok = backend.rawAnchor(*p.device, &a.event, &a.hostMs, &spreadMs, &error) && spreadMs <= kMaxAnchorSpreadMs;
    anchors.push_back(a);
  }
}

// The host time (steadyClockMs) when a completed CUDA timing start was reached, through this pass's anchor of
// its device; NaN when there is none or the device cannot say.
double cudaStartMs(Backend& backend, const std::vector<PassAnchor>& anchors, const DeviceImpl& d, void* start) {
  auto a = std::find_if(anchors.begin(), anchors.end(), [&](const PassAnchor& x) { return x.ordinal == d.ordinal; });
  if (a == anchors.end() || !a->ok) return std::nan("");
  std::string error;
  double before = backend.rawElapsedMs(start, a->event, &error);
  return error.empty() ? a->hostMs - before : std::nan("");
}

}  // namespace

bool harvestQueue(QueueCore& q, bool* deviceWork) {
  // A want that found its record complete while a pass held the queue's lock asked for a report (reportAsked).
  const bool asked = q.reportAsked.exchange(false);
  if ((q.unharvested.load() == 0 && !asked) || q.closed.load()) return false;
  Backend& backend = backendFor(q.kind);
  bool cuda = q.kind == BackendKind::Cuda;
  // The pass's report, built apart, then sent or merged.
  QueueReport part;
  bool reported = false;
  bool progress = false;
  thread_local std::vector<StreamPeek> peeks;
  std::vector<PassAnchor> anchors;
  if (cuda) {
    peekCompleted(q, backend, peeks);
    if (q.timingEnds.load() != 0) anchorPass(backend, peeks, anchors);
  }
  std::lock_guard<std::mutex> coreLock(q.m);
  if (q.closed) return false;
  for (size_t i = 0; i < q.streams.size(); i++) {
    QueueStream& s = *q.streams[i];
    std::lock_guard<std::mutex> lock(s.m);
    if (s.pending.empty() && !asked) continue;
    // A stream added after the peek has nothing seen complete yet.
    const StreamPeek* peek = cuda && i < peeks.size() ? &peeks[i] : nullptr;
    const size_t done = peek == nullptr ? 0 : peek->done;
    const uint64_t lastTimingEnd = peek == nullptr ? 0 : peek->lastTimingEnd;
    size_t harvested = 0;
    bool measured = false;  // timings are reported as they come
    while (!s.pending.empty()) {
      QueueRecord r = s.pending.front();
      bool failed = s.failedFrom != 0 && r.seq >= s.failedFrom;
      // The peek saw the same leading records: only this pass pops them.
      if (cuda && !failed && harvested >= done) {
        if (harvested > done || peek == nullptr || peek->error.empty()) {
          *deviceWork = true;
          break;
        }
        s.failedFrom = r.seq;
        s.error = "record: " + peek->error;
        failed = true;
      }
      // A timing end that completed after this pass's anchors were taken waits for the next pass.
      if (cuda && !failed && r.mode == 2 && r.seq > lastTimingEnd) {
        *deviceWork = true;
        break;
      }
      s.pending.pop_front();
      harvested++;
      s.completed = r.seq;
      std::vector<void*>& pool = r.mode == 0 ? s.plainEvents : s.timingEvents;
      if (r.mode == 1) {
        s.starts.push_back(r);
        continue;
      }
      if (r.event != nullptr) pool.push_back(r.event);
      if (r.mode != 2) continue;
      --*s.timingEnds;
      auto start = std::find_if(s.starts.begin(), s.starts.end(), [&](const QueueRecord& x) { return x.seq == r.startSeq; });
      if (start == s.starts.end()) continue;
      bool timed = !failed && (!cuda || (start->event != nullptr && r.event != nullptr));
      std::string error;
      double ms = !timed ? 0 : cuda ? backend.rawElapsedMs(start->event, r.event, &error) : r.cpuMs - start->cpuMs;
      if (timed && error.empty()) {
        double startMs = cuda ? cudaStartMs(backend, anchors, *s.stream->device, start->event) : start->cpuMs;
        q.timings.insert(q.timings.end(), {static_cast<double>(s.index), static_cast<double>(r.seq), ms, startMs});
        measured = true;
      }
      if (start->event != nullptr) pool.push_back(start->event);
      s.starts.erase(start);
    }
    if (harvested == 0 && !asked) continue;
    if (harvested > 0) {
      q.unharvested -= harvested;
      progress = true;
    }
    bool failure = s.failedFrom != 0 && !s.failureSent;
    if (!failure && !measured && (s.completed <= s.sent || s.completed < s.wanted)) continue;
    addToReport(q, s, part);
    reported = true;
  }
  if (!reported) return progress;
  sendReport(q, part);
  return true;
}

}  // namespace fr
