// The Queue handle: streams, communicators and buffers registered under small integers, and packed programs
// checked as a whole on the JS thread (queue_parse.cc), then issued with one executor step per stream touched
// (CPU) or one issuer item (CUDA). Completions come back in bulk through onProgress.
#include <algorithm>

#include "cuda/cuda_api.h"
#include "executor.h"
#include "handles.h"
#include "issue_plan.h"
#include "issuer.h"
#include "queue_parse.h"

namespace fr {

namespace {

constexpr uint64_t kMaxMergeGroups = 256;
constexpr uint64_t kMaxPlanIterations = 1000;

}  // namespace

Napi::Function Queue::Init(Napi::Env env) {
  Napi::Function ctor = DefineClass(env, "Queue",
                                    {
                                        InstanceMethod<&Queue::AddStream>("addStream"),
                                        InstanceMethod<&Queue::AddComm>("addComm"),
                                        InstanceMethod<&Queue::AddBuffer>("addBuffer"),
                                        InstanceMethod<&Queue::RemoveBuffer>("removeBuffer"),
                                        InstanceMethod<&Queue::Records>("records"),
                                        InstanceMethod<&Queue::Want>("want"),
                                        InstanceMethod<&Queue::Submit>("submit"),
                                        InstanceMethod<&Queue::Replay>("replay"),
                                        InstanceMethod<&Queue::Plan>("plan"),
                                        InstanceMethod<&Queue::Close>("close"),
                                    });
  defineGetter<Queue, &Queue::Closed>(ctor, "closed");
  return ctor;
}

// new Queue(backend: 'cpu' | 'cuda', onProgress(done, errors, timings), mergeGroups = 1)
Queue::Queue(const Napi::CallbackInfo& info) : Napi::ObjectWrap<Queue>(info) {
  tagHandle<Queue>(info);
  Napi::Env env = info.Env();
  std::string backend = info[0].IsString() ? info[0].As<Napi::String>().Utf8Value() : "";
  if (backend != "cpu" && backend != "cuda") throw Napi::TypeError::New(env, "backend must be 'cpu' or 'cuda'");
  if (!info[1].IsFunction()) throw Napi::TypeError::New(env, "onProgress must be a function");
  uint64_t mergeGroups = info[2].IsUndefined() ? 1 : toIndex(info[2], "mergeGroups");
  if (mergeGroups < 1 || mergeGroups > kMaxMergeGroups) {
    throw Napi::RangeError::New(env, "mergeGroups must be an integer from 1 to " + std::to_string(kMaxMergeGroups) +
                                         ", got " + std::to_string(mergeGroups));
  }
  core_ = std::make_shared<QueueCore>();
  core_->kind = backend == "cpu" ? BackendKind::Cpu : BackendKind::Cuda;
  core_->mergeGroups = static_cast<size_t>(mergeGroups);
  if (core_->kind == BackendKind::Cuda) {
    cuda::RuntimeInfo rt = cuda::runtimeInfo();
    if (rt.deviceCount == 0) throw Napi::Error::New(env, "CUDA backend unavailable: " + rt.error);
  }
  // The tsfn's finalizer drops this reference: reports may still be queued when the queue object is gone.
  auto* holder = new std::shared_ptr<QueueCore>(core_);
  core_->tsfn = ProgressTsfn::New(env, info[1].As<Napi::Function>(), "fairring-rx queue progress", 0, 1, core_.get(),
                                  [](Napi::Env, std::shared_ptr<QueueCore>* h, QueueCore*) { delete h; }, holder);
  core_->tsfn.Unref(env);
  // Registered after the tsfn, so it runs before the environment tears the tsfn down.
  napi_add_env_cleanup_hook(env, envGone, core_.get());
  gen_ = std::make_shared<Generation>();
  gen_->core = core_;
  parsed_ = std::make_unique<Parsed>();
  watchQueue(core_);
}

Queue::~Queue() { closeNow(); }

void Queue::envGone(void* arg) {
  auto* core = static_cast<QueueCore*>(arg);
  std::lock_guard<std::mutex> lock(core->m);
  core->closed = true;
  core->envGone = true;
}

void Queue::closeNow() {
  if (!core_ || core_->closed.load()) return;
  {
    std::lock_guard<std::mutex> lock(core_->m);
    core_->closed = true;
  }
  // Closed or collected, the Queue lets go of its buffers as RemoveBuffer does: work issued before, held behind
  // a group in flight or not yet issued at all, keeps their memory through its generation.
  for (auto& b : buffers_) {
    if (b) gen_->retired.push_back(std::move(b));
  }
  buffers_.clear();
  freeBuffers_.clear();
  napi_remove_env_cleanup_hook(Env(), envGone, core_.get());
  core_->tsfn.Release();
}

void deliverReport(Napi::Env env, Napi::Function onProgress, QueueCore* core, QueueReport* report) {
  std::unique_ptr<QueueReport> owned(report);
  // At teardown (no env) the tsfn's finalizer may have freed the core already; nothing merges into a report
  // by then, since every path that finalizes the tsfn first sets closed under the core's lock.
  if (env == nullptr) return;
  {
    std::lock_guard<std::mutex> lock(core->reportM);
    if (core->unsent == report) core->unsent = nullptr;
  }
  if (core->closed.load()) return;
  size_t n = report->errors.size();
  for (size_t i = 0; i < n; i++) {
    QueueStream& s = *core->streams[static_cast<size_t>(report->done[3 * i])];
    auto completed = static_cast<uint64_t>(report->done[3 * i + 1]);
    s.failureTold = s.failureTold || report->done[3 * i + 2] != 0;
    if (s.asked != kNotWanted && completed >= s.asked) {
      s.asked = kNotWanted;
      if (--core->asking == 0) core->tsfn.Unref(env);
    }
  }
  // Building the arguments can fail too (a worker terminated with a report queued: JS no longer runs), and an
  // exception must not leave a tsfn callback.
  try {
    auto done = Napi::Float64Array::New(env, report->done.size());
    std::copy(report->done.begin(), report->done.end(), done.Data());
    auto errors = Napi::Array::New(env, n);
    for (size_t i = 0; i < n; i++) errors.Set(static_cast<uint32_t>(i), report->errors[i]);
    auto timings = Napi::Float64Array::New(env, report->timings.size());
    std::copy(report->timings.begin(), report->timings.end(), timings.Data());
    onProgress.Call({done, errors, timings});
  } catch (const Napi::Error& e) {
    e.ThrowAsJavaScriptException();
  }
}

void Queue::checkOpen(Napi::Env env) const {
  if (core_->closed.load()) throwClosed(env, "Queue");
}

void Queue::checkBackend(Napi::Env env, const DeviceImpl& d, const char* what) const {
  if (d.kind != core_->kind) {
    throw Napi::TypeError::New(env, std::string(what) + " lives on " + deviceLabel(d) + ", not on a " +
                                        backendName(core_->kind) + " device like this queue");
  }
}

Napi::Value Queue::AddStream(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  checkOpen(env);
  auto stream = Stream::From(info[0], "stream")->live(env);
  checkBackend(env, *stream->device, "stream");
  auto s = std::make_shared<QueueStream>();
  s->stream = std::move(stream);
  s->index = static_cast<uint32_t>(core_->streams.size());
  s->unharvested = &core_->unharvested;
  s->timingEnds = &core_->timingEnds;
  {
    std::lock_guard<std::mutex> lock(core_->m);
    core_->streams.push_back(s);
  }
  return Napi::Number::New(env, s->index);
}

Napi::Value Queue::AddComm(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  checkOpen(env);
  auto comm = Comm::From(info[0], "comm")->live(env);
  checkBackend(env, *comm->device, "comm");
  core_->comms.push_back(std::move(comm));
  return Napi::Number::New(env, static_cast<double>(core_->comms.size() - 1));
}

Napi::Value Queue::AddBuffer(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  checkOpen(env);
  auto mem = Buffer::From(info[0], "buffer")->memory(env);
  checkBackend(env, *mem->device, "buffer");
  uint32_t index;
  if (freeBuffers_.empty()) {
    index = static_cast<uint32_t>(buffers_.size());
    buffers_.push_back(std::move(mem));
  } else {
    index = freeBuffers_.back();
    freeBuffers_.pop_back();
    buffers_[index] = std::move(mem);
  }
  return Napi::Number::New(env, index);
}

// The memory stays alive until the work issued before the removal is done with it.
Napi::Value Queue::RemoveBuffer(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  checkOpen(env);
  uint64_t index = toIndex(info[0], "index");
  if (index >= buffers_.size() || !buffers_[index]) {
    throw Napi::RangeError::New(env, "buffer " + std::to_string(index) + " is not registered");
  }
  gen_->retired.push_back(std::move(buffers_[index]));
  auto next = std::make_shared<Generation>();
  next->core = core_;
  gen_->next = next;
  gen_ = std::move(next);
  freeBuffers_.push_back(static_cast<uint32_t>(index));
  return env.Undefined();
}

Napi::Value Queue::Records(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  checkOpen(env);
  uint64_t index = toIndex(info[0], "stream");
  if (index >= core_->streams.size()) {
    throw Napi::RangeError::New(env, "stream " + std::to_string(index) + " is not registered");
  }
  return Napi::Number::New(env, static_cast<double>(core_->streams[index]->submitted));
}

// want(stream, seq) -> records of the stream known complete (failed ones count once a report delivered the
// failure). onProgress reports the stream once record seq has completed, at once if it has (a failure is always
// reported at once), and the queue keeps the event loop alive until then. Other completions are reported only
// along with such a report: a report wakes the JS thread.
Napi::Value Queue::Want(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  checkOpen(env);
  uint64_t index = toIndex(info[0], "stream");
  uint64_t seq = toIndex(info[1], "seq");
  if (index >= core_->streams.size()) {
    throw Napi::RangeError::New(env, "stream " + std::to_string(index) + " is not registered");
  }
  QueueStream& s = *core_->streams[index];
  if (seq == 0 || seq > s.submitted) {
    throw Napi::RangeError::New(env, "seq " + std::to_string(seq) + " is not a record of stream " + std::to_string(index) +
                                         " (" + std::to_string(s.submitted) + " submitted)");
  }
  uint64_t known;
  bool reportNow;
  // The stream's lock alone in the common case: the watcher holds the queue's lock for a whole harvest.
  {
    std::lock_guard<std::mutex> lock(s.m);
    known = s.failedFrom != 0 && !s.failureTold ? std::min(s.completed, s.failedFrom - 1) : s.completed;
    reportNow = s.completed >= seq && s.sent < seq;
    if (s.completed < seq) s.wanted = std::min(s.wanted, seq);
  }
  if (reportNow) {
    // Complete but not yet reported: report it now, unless the watcher did meanwhile. The watcher holds the
    // queue's lock for a whole pass; rather than wait for it (the JS thread never waits on another thread's
    // work), the ask is left to its next pass.
    std::unique_lock<std::mutex> coreLock(core_->m, std::try_to_lock);
    if (coreLock.owns_lock()) {
      std::lock_guard<std::mutex> lock(s.m);
      if (s.sent < seq) {
        QueueReport part;
        addToReport(*core_, s, part);
        sendReport(*core_, part);
      }
    } else {
      bool due;
      {
        std::lock_guard<std::mutex> lock(s.m);
        // A report the pass sent meanwhile (a timing's, say) may have covered it already.
        due = s.sent < seq;
        if (due) s.wanted = std::min(s.wanted, seq);
      }
      if (due) {
        // Set before the kick: a watcher about to wait reads the kick count, then this flag.
        core_->reportAsked.store(true);
        kickWatchers();
      }
    }
  }
  if (s.asked == kNotWanted && core_->asking++ == 0) core_->tsfn.Ref(env);
  s.asked = std::min(s.asked, seq);
  return Napi::Number::New(env, static_cast<double>(known));
}

Napi::Value Queue::Submit(const Napi::CallbackInfo& info) {
  run(info, 1, false);
  return info.Env().Undefined();
}

Napi::Value Queue::Replay(const Napi::CallbackInfo& info) {
  uint64_t iterations = toIndex(info[2], "iterations");
  if (iterations == 0 || iterations > 0xffffffffu) {
    throw Napi::RangeError::New(info.Env(), "iterations must be between 1 and 2^32-1, got " + std::to_string(iterations));
  }
  return Napi::Number::New(info.Env(), run(info, iterations, true));
}

Napi::Value Queue::Close(const Napi::CallbackInfo& info) {
  closeNow();
  return info.Env().Undefined();
}

Napi::Value Queue::Closed(const Napi::CallbackInfo& info) {
  return Napi::Boolean::New(info.Env(), core_->closed.load());
}

// plan(ops, length, iterations?): checked as submit (or, with iterations, replay) checks it, not issued: the op
// ordinals (iteration · ops + op) in the order the CUDA issuer issues them when it gets the program alone, an
// array per single op or merged NCCL group (issue_plan.h).
Napi::Value Queue::Plan(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  bool replay = !info[2].IsUndefined();
  uint64_t iterations = replay ? toIndex(info[2], "iterations") : 1;
  if (iterations == 0 || iterations > kMaxPlanIterations) {
    throw Napi::RangeError::New(env, "iterations must be between 1 and " + std::to_string(kMaxPlanIterations) +
                                         ", got " + std::to_string(iterations));
  }
  Parsed parsed;
  check(info, replay, parsed);
  const Program& p = parsed.program;
  class Recorder : public PlanSink {
   public:
    explicit Recorder(size_t ops) : ops_(ops) {}
    std::vector<std::vector<double>> order;
    void single(const PlanOp& p) override { order.push_back({ordinal(p)}); }
    void merged(const std::vector<PlanOp>& groups) override {
      order.emplace_back();
      for (const PlanOp& g : groups) order.back().push_back(ordinal(g));
    }

   private:
    double ordinal(const PlanOp& p) const { return static_cast<double>(p.iteration * ops_ + p.op); }
    size_t ops_;
  } recorder(p.ops.size());
  MergePolicy policy;
  policy.maxGroups = core_->mergeGroups;
  IssuePlan plan(recorder, policy);
  for (uint64_t it = 0; it < iterations; it++) {
    for (uint32_t op = 0; op < p.ops.size(); op++) plan.add(PlanOp{&p, it, op});
  }
  plan.finish();
  auto out = Napi::Array::New(env, recorder.order.size());
  for (size_t i = 0; i < recorder.order.size(); i++) {
    auto step = Napi::Array::New(env, recorder.order[i].size());
    for (size_t j = 0; j < recorder.order[i].size(); j++) step.Set(static_cast<uint32_t>(j), recorder.order[i][j]);
    out.Set(static_cast<uint32_t>(i), step);
  }
  return out;
}

// submit(ops, length) and replay(ops, length, iterations): check everything, then commit and issue.
double Queue::run(const Napi::CallbackInfo& info, uint64_t iterations, bool replay) {
  Parsed& parsed = *parsed_;
  check(info, replay, parsed);

  // Commit: record numbers (a replay's iterations each add the program's), timing pairs, what JS waits for.
  auto& streams = core_->streams;
  for (size_t i = 0; i < streams.size(); i++) streams[i]->submitted += (recs_[i] - streams[i]->submitted) * iterations;
  if (!replay) {
    for (const auto& [stream, seq] : parsed.startsAdded) streams[stream]->openStarts.push_back(seq);
    for (const auto& [stream, seq] : parsed.startsPaired) {
      auto& open = streams[stream]->openStarts;
      open.erase(std::find(open.begin(), open.end(), seq));
    }
  }
  // The native loop times itself from here; a submit reads no clock.
  const double handedOver = replay ? steadyClockMs() : 0;
  issue(parsed, iterations);
  return handedOver;
}

// CUDA: one issuer task. CPU: one executor step per stream touched, each running that stream's part of one
// shared program (a group split into each stream's items).
void Queue::issue(const Parsed& parsed, uint64_t iterations) {
  const Program& src = parsed.program;
  if (src.ops.empty()) return;
  if (core_->kind == BackendKind::Cuda) {
    auto work = std::make_shared<ProgramWork>(ProgramWork{gen_, core_, src});
    work->program.iterations = iterations;
    issuer::postBatch(issueProgramsOnCuda, std::move(work));
    return;
  }
  auto& streams = core_->streams;
  auto owned = std::make_unique<CpuProgram>();
  CpuProgram* cpu = owned.get();
  cpu->gen = gen_;
  Program& prog = cpu->program;
  prog.ops = src.ops;
  prog.srcs = src.srcs;
  prog.iterations = iterations;
  prog.items.reserve(src.items.size());
  partOf_.assign(streams.size(), -1);
  partStreams_.clear();
  tagged_.clear();
  auto partOf = [&](uint32_t stream) -> uint32_t {
    if (partOf_[stream] < 0) {
      partOf_[stream] = static_cast<int32_t>(partStreams_.size());
      partStreams_.push_back(stream);
    }
    return static_cast<uint32_t>(partOf_[stream]);
  };
  for (uint32_t o = 0; o < src.ops.size(); o++) {
    const QueueOp& op = src.ops[o];
    if (op.code != QueueOpCode::Group) {
      tagged_.push_back({partOf(op.stream->index), CpuProgram::Entry{o, 0, 0}});
      continue;
    }
    // The group's items stream by stream, in the order the streams first appear.
    groupStreams_.clear();
    for (uint32_t j = op.first; j < op.first + op.n; j++) {
      uint32_t stream = parsed.itemStreams[j];
      if (std::find(groupStreams_.begin(), groupStreams_.end(), stream) == groupStreams_.end()) groupStreams_.push_back(stream);
    }
    for (uint32_t stream : groupStreams_) {
      auto first = static_cast<uint32_t>(prog.items.size());
      for (uint32_t j = op.first; j < op.first + op.n; j++) {
        if (parsed.itemStreams[j] == stream) prog.items.push_back(src.items[j]);
      }
      tagged_.push_back({partOf(stream), CpuProgram::Entry{o, first, static_cast<uint32_t>(prog.items.size()) - first}});
    }
  }
  // The parts one after another, each in program order.
  cpu->parts.resize(partStreams_.size());
  for (const auto& t : tagged_) cpu->parts[t.first].end++;
  uint32_t at = 0;
  for (CpuProgram::Part& part : cpu->parts) {
    part.begin = at;
    at += part.end;
    part.end = part.begin;
  }
  cpu->entries.resize(tagged_.size());
  for (const auto& t : tagged_) cpu->entries[cpu->parts[t.first].end++] = t.second;
  // Emptied however postAll ends: steps left in the scratch would be posted again by the next submit.
  struct Emptied {
    std::vector<executor::Posting>& steps;
    ~Emptied() { steps.clear(); }
  } emptied{steps_};
  for (uint32_t i = 0; i < partStreams_.size(); i++) steps_.push_back(executor::Posting{streams[partStreams_[i]]->stream, ProgramStep{cpu, i}});
  cpu->unfinished = partStreams_.size();
  // Posted, the program belongs to its steps; not posted (the executor stopped), it goes here.
  if (executor::postAll(steps_)) owned.release();
}

}  // namespace fr
