// The backend-neutral device runtime: devices, memory, streams (on the CPU, steps run by the process-wide CPU
// executor; on CUDA, work goes to the process-wide issuer thread), events, host copies and the backend
// interface both the CPU and the CUDA backends implement. Nothing here touches Node-API.
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstddef>
#include <cstdint>
#include <deque>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <utility>
#include <vector>

namespace fr {

// The host's monotonic clock in milliseconds (CLOCK_MONOTONIC, as Node's performance.now() counts it, from
// another origin): the CPU backend's record times, the queue timings' starts and native.clockMs().
inline double steadyClockMs() {
  return std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now().time_since_epoch()).count();
}

enum class BackendKind { Cpu, Cuda };
enum class DType { Float16, BFloat16, Float32, Float64, Int8, UInt8, Int32, Int64 };
enum class RedOp { Sum, Prod, Max, Min, Avg };

// The names JS uses, one table per enum, in declaration order (a packed program carries an enum as its
// ordinal, runtime.cc checks the order): for parsing arguments, naming values in errors and range checks.
inline constexpr std::pair<const char*, DType> kDTypes[] = {
    {"float16", DType::Float16}, {"bfloat16", DType::BFloat16}, {"float32", DType::Float32},
    {"float64", DType::Float64}, {"int8", DType::Int8},         {"uint8", DType::UInt8},
    {"int32", DType::Int32},     {"int64", DType::Int64}};
inline constexpr std::pair<const char*, RedOp> kRedOps[] = {
    {"sum", RedOp::Sum}, {"prod", RedOp::Prod}, {"max", RedOp::Max}, {"min", RedOp::Min}, {"avg", RedOp::Avg}};

// A table's names as an error message lists what is accepted: "a, b, c".
template <class E, size_t N>
std::string namesOf(const std::pair<const char*, E> (&table)[N]) {
  std::string out;
  for (const auto& entry : table) out += (out.empty() ? "" : ", ") + std::string(entry.first);
  return out;
}

size_t dtypeSize(DType t);
bool parseDType(const std::string& s, DType* out);
bool parseRedOp(const std::string& s, RedOp* out);
const char* dtypeName(DType t);
const char* backendName(BackendKind k);

// Result of one enqueued operation as the thread running it saw it: empty message means success.
struct Status {
  std::string error;
  bool ok() const { return error.empty(); }
  static Status Ok() { return {}; }
  static Status Fail(std::string message) { return Status{std::move(message)}; }
};

// Set once when the Node environment shuts down: every wait in the runtime checks it so that the runtime's
// threads can be joined instead of blocking process exit.
extern std::atomic<bool> g_shuttingDown;

// NCCL calls in progress on any thread (a group being issued or polled, communicators being made, aborted or
// released). The libraries' teardown at exit crashed inside NCCL while such a call ran: a process that exits
// meanwhile ends at once instead (Shutdown in addon.cc).
extern std::atomic<int> g_ncclCallsInFlight;

// Set at the process's 'exit' event and at shutdown, before g_ncclCallsInFlight is read: a call counted after
// that check must not start (exiting() below), or the exit would tear NCCL down under it.
extern std::atomic<bool> g_exiting;

// The exit code the process's 'exit' event carried (0 until then): the status of a shutdown that ends the
// process at once.
extern std::atomic<int> g_exitStatus;

// Once CUDA is in use (a CUDA device opened, NCCL communicators made): exit() ends the process at once with its
// status, after the NCCL profile's report and a flush, instead of running the exit handlers registered before
// the handler: the CUDA runtime's and NCCL's teardown, under threads that may still use them (the reaper's
// cudaFree, NCCL's proxy threads, the issuer and its part threads after an uncaught error, which runs no
// environment cleanup). The handler (glibc's on_exit, which passes the status) is registered at the first call
// of each `when` (the CUDA runtime initialised, NCCL initialised), so that it runs before the handlers of the
// libraries initialised by then.
enum class ExitPoint { CudaRuntime, Nccl };
void endAtExit(ExitPoint when);

// Ends the process now with `status`: the NCCL profile's report, a flush, std::_Exit. What endAtExit's handler
// and process.exit() (exitNow in addon.cc) do once CUDA is in use.
[[noreturn]] void endProcess(int status);

struct NcclCallScope {
  NcclCallScope() { g_ncclCallsInFlight.fetch_add(1); }
  ~NcclCallScope() { g_ncclCallsInFlight.fetch_sub(1); }
  NcclCallScope(const NcclCallScope&) = delete;
  NcclCallScope& operator=(const NcclCallScope&) = delete;
  // Whether the process began to exit. Read after the count went up (both sequentially consistent): either the
  // exit's check sees this call and ends the process at once, or this call sees the exit and does not start.
  static bool exiting() { return g_exiting.load(); }
};

// Whether a wait of the runtime should give up: the runtime shuts down, or the process begins to exit. After an
// uncaught error or process.exit() Node waits for its thread pool's running work (communicator inits among it)
// before exit(), with no environment cleanup: the 'exit' event's g_exiting is all that ends such a wait.
inline bool stopping() { return g_shuttingDown.load() || g_exiting.load(); }

// Names the calling thread (at most 15 characters shown) for /proc, debuggers and profilers: the addon's threads
// are "fr-" and their role.
void nameThread(const char* name);

// Waits on cv until pred() holds, the runtime is stopping, or the deadline passes. Returns pred().
template <class Pred>
bool waitInterruptible(std::unique_lock<std::mutex>& lock, std::condition_variable& cv, Pred pred,
                       std::chrono::steady_clock::time_point deadline = std::chrono::steady_clock::time_point::max()) {
  while (!pred()) {
    if (stopping()) return false;
    auto now = std::chrono::steady_clock::now();
    if (now >= deadline) return false;
    auto slice = std::min<std::chrono::steady_clock::duration>(deadline - now, std::chrono::milliseconds(20));
    cv.wait_for(lock, slice);
  }
  return true;
}

struct DeviceImpl {
  BackendKind kind;
  int ordinal;
  std::string name;
  uint64_t totalMemory;
};

// One device allocation. Operations hold a shared_ptr to it, so memory outlives a closed Buffer handle until
// the work that uses it has been issued (CUDA) or executed (CPU).
struct Memory {
  std::shared_ptr<DeviceImpl> device;
  void* ptr = nullptr;
  size_t bytes = 0;
  bool host = false;  // host memory the device copies into and out of (pinned on CUDA), readable by JS
  ~Memory();
};

struct StreamImpl;

// A re-recordable event. Each record is numbered; waiting and completion refer to a record number.
struct EventImpl {
  std::shared_ptr<DeviceImpl> device;
  bool timing = false;
  void* cudaEvent = nullptr;

  std::mutex m;
  uint64_t enqueued = 0;   // records handed to a stream (JS thread)
  uint64_t issued = 0;     // records the thread running the stream has reached
  uint64_t completed = 0;  // records known complete (CPU: at issue; CUDA: observed by the watcher)
  std::string error;       // error carried by the latest issued record
  double cpuTimeMs = 0;    // CPU backend: steady clock at completion

  ~EventImpl();
};

// Host memory a device-to-host copy lands in (pinned on CUDA), allocated when the copy is issued. Readable
// once the backend says the copy has completed.
struct HostData {
  std::shared_ptr<DeviceImpl> device;
  size_t bytes = 0;
  void* ptr = nullptr;
  void* cudaEvent = nullptr;         // CUDA: recorded right after the copy
  std::atomic<bool> issued{false};   // ptr and cudaEvent are set
  std::atomic<bool> ready{false};    // the bytes are there
  ~HostData();
};

using Task = std::function<void(StreamImpl&)>;
// CPU: a task that may have to wait for another stream or for a peer rank. Unless done, it is called again
// later and goes on from whatever state it keeps; Advanced tells the executor it got further before it stopped
// to wait (which may let another stream go on).
enum class StepResult { Done, Waiting, Advanced };
using Step = std::function<StepResult(StreamImpl&)>;

// A device stream. On the CPU backend its steps run on the CPU executor (executor.h), in order; on CUDA its
// tasks go to the process-wide issuer thread (issuer.h), which issues everything in program order into the
// cudaStream_t.
struct StreamImpl : std::enable_shared_from_this<StreamImpl> {
  std::shared_ptr<DeviceImpl> device;
  void* cudaStream = nullptr;
  std::atomic<bool> closed{false};  // close() was called: nothing more may be enqueued

  // CPU, the executor thread's alone (other threads post through its inbox): a cache line of its own, so that the
  // JS thread's reads above (a program's check reads `closed` for every op) do not miss on its writes.
  alignas(64) std::deque<Step> steps;
  bool active = false;  // on the executor's list of streams with steps
  // Sticky error, touched only by the thread running the stream's tasks: once an operation fails, later
  // operations are skipped and later records carry it.
  std::string error;

  void start();
  void enqueue(Task t);
  void enqueueStep(Step s);  // CPU only
  void close();              // no more enqueues; queued work still runs
};

// Runs one operation's status into the stream's sticky error.
void applyStatus(StreamImpl& s, const Status& st, const char* what);

struct CommImpl;

// One operation of a group (NCCL's ncclGroupStart/End): collectives and point-to-point, per rank. Items hold
// raw pointers; whoever enqueues them keeps the streams, communicators and memory alive until they have run.
enum class CollKind { AllReduce, ReduceScatter, AllGather, Send, Recv };
inline constexpr std::pair<const char*, CollKind> kCollKinds[] = {{"allReduce", CollKind::AllReduce},
                                                                  {"reduceScatter", CollKind::ReduceScatter},
                                                                  {"allGather", CollKind::AllGather},
                                                                  {"send", CollKind::Send},
                                                                  {"recv", CollKind::Recv}};
bool parseCollKind(const std::string& s, CollKind* out);
const char* collKindName(CollKind k);
struct CollItem {
  StreamImpl* stream = nullptr;
  CommImpl* comm = nullptr;
  CollKind kind = CollKind::AllReduce;
  const void* send = nullptr;
  void* recv = nullptr;
  size_t count = 0;  // elements: allReduce count, reduceScatter recvcount, allGather sendcount, send/recv count
  DType dtype = DType::Float32;
  RedOp op = RedOp::Sum;
  int peer = -1;
};
// What a group's items point to, held by the enqueued work.
using KeepAlive = std::shared_ptr<std::vector<std::shared_ptr<const void>>>;

// A blocking part of a group (Gloo, across processes) running on a thread of its own, so that the CPU executor
// goes on with other streams meanwhile: peers in other processes may be running those first.
struct BlockingRun {
  std::atomic<bool> done{false};
  Status status;  // once done
  std::thread thread;
  ~BlockingRun() {
    if (thread.joinable()) thread.join();
  }
};

// How far a rank's part of a group has got (CPU: the executor comes back to a part that waits for a peer).
struct GroupProgress {
  // Where it stands, to tell whether a call got further.
  uint64_t mark() const { return (static_cast<uint64_t>(phase) << 48) | (static_cast<uint64_t>(at) << 1) | (waiting ? 1 : 0); }

  int phase = 0;        // the CPU's phases: sends posted, collectives, receives, sends consumed
  size_t at = 0;        // the item the phase is at
  bool waiting = false; // that item has started waiting (arrived at its collective)
  uint64_t round = 0;   // the collective's round
  std::chrono::steady_clock::time_point deadline{};
  Status first;         // the first failure
  std::vector<std::shared_ptr<void>> posted;  // the sends' messages, in item order
  std::shared_ptr<BlockingRun> running;
};

struct CommImpl {
  std::shared_ptr<DeviceImpl> device;
  int rank = 0;
  int size = 0;
  virtual ~CommImpl() = default;
  virtual void abort() = 0;
  // Whether an abort handed to another thread (NCCL's aborter) is still running.
  virtual bool aborting() const { return false; }
  virtual std::string asyncError() = 0;
};

class Backend {
 public:
  virtual ~Backend() = default;
  virtual void* allocate(DeviceImpl& d, size_t bytes, std::string* error) = 0;
  virtual void release(DeviceImpl& d, void* ptr) = 0;
  // Host memory the device's streams copy into and out of (pinned on CUDA).
  virtual void* allocateHost(DeviceImpl& d, size_t bytes, std::string* error) = 0;
  virtual void releaseHost(DeviceImpl& d, void* ptr) = 0;
  virtual void streamCreate(StreamImpl& s) = 0;   // on the thread running the stream's tasks
  virtual void streamDestroy(StreamImpl& s) = 0;  // on the thread running the stream's tasks
  virtual Status copy(StreamImpl& s, void* dst, const void* src, size_t bytes) = 0;
  virtual Status copyFromHost(StreamImpl& s, void* dst, const void* host, size_t bytes) = 0;
  // Allocates h's memory and copies into it; never waits for the device. h.ready tells when the bytes are there.
  virtual Status copyToHost(StreamImpl& s, HostData& h, const void* src) = 0;
  virtual bool hostReady(HostData& h) = 0;
  virtual void hostRelease(HostData& h) = 0;
  virtual Status fill(StreamImpl& s, void* dst, size_t count, DType t, double value) = 0;
  // Avg divides the sum by `divisor` (the number of contributions it stands for), once.
  virtual Status reduce(StreamImpl& s, void* dst, const std::vector<const void*>& srcs, size_t count, DType t,
                        RedOp op, uint32_t divisor) = 0;
  virtual Status record(StreamImpl& s, EventImpl& e) = 0;
  virtual Status wait(StreamImpl& s, EventImpl& e) = 0;
  virtual void eventCreate(EventImpl& e) = 0;
  virtual void eventDestroy(EventImpl& e) = 0;
  // Returns true when complete; sets *error on failure.
  virtual bool eventQuery(EventImpl& e, std::string* error) = 0;
  virtual double elapsedMs(EventImpl& a, EventImpl& b, std::string* error) = 0;
  // Plain device events of queue records (queue.h): CUDA events; the CPU backend completes records at issue
  // and never calls these.
  virtual void* rawEventCreate(DeviceImpl& d, bool timing, std::string* error) = 0;
  virtual void rawEventDestroy(void* event) = 0;
  virtual Status rawEventRecord(StreamImpl& s, void* event) = 0;
  virtual Status rawStreamWait(StreamImpl& s, void* event) = 0;
  virtual bool rawEventQuery(void* event, std::string* error) = 0;
  virtual double rawElapsedMs(void* start, void* end, std::string* error) = 0;
  // A fresh point where the device's timer and the host's clock (steadyClockMs) meet: a timing event recorded
  // on a stream of its own and polled for (at most 1 ms, a few tries until one takes at most 10 µs). *event
  // (the device's one anchor event, re-recorded by the next call) reached the device at *hostMs, within half of
  // *spreadMs, the host time the record and the poll took. The device time of a completed timing event,
  // rawElapsedMs to the anchor, becomes host time. Called with no queue lock held. CPU: no device events.
  virtual bool rawAnchor(DeviceImpl& d, void** event, double* hostMs, double* spreadMs, std::string* error) = 0;
  // Enqueues a whole group on the streams its items name, in one step so peers see the same order.
  virtual void enqueueGroup(std::vector<CollItem> items, KeepAlive keep) = 0;
  // Runs group items now, on the thread running their streams' work, into the streams' sticky errors. CPU: the
  // items of one stream (one rank's part), returning false while it waits for a peer (call it again with the same
  // progress); CUDA: a whole group, issued from the issuer thread at once.
  virtual bool stepGroup(const CollItem* items, size_t n, GroupProgress& progress) = 0;
};

Backend& backendFor(BackendKind k);
Backend& cpuBackend();
// Null when built without CUDA.
Backend* cudaBackend();

// Enqueue helpers shared by the handles: record and wait carry errors across streams.
void enqueueRecord(const std::shared_ptr<StreamImpl>& s, const std::shared_ptr<EventImpl>& e);
void enqueueWait(const std::shared_ptr<StreamImpl>& s, const std::shared_ptr<EventImpl>& e);

// Wakes the event watcher threads after a record was issued (the CPU backend completes events there).
void kickWatchers();
// After a record was issued on a device stream (not complete yet): wakes the watcher only where it sleeps
// without a deadline or past 100 µs (it saw no device work). Otherwise it polls the record on its next pass, at
// most 100 µs away; waking it for every record cost the issuer a futex wake each.
void noteDeviceRecord();

// Environment shutdown: stops the CPU executor (executor.h).
void shutdownStreams();

}  // namespace fr
