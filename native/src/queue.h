// The runtime side of Queue handles (queue.cc): per-stream record state, parsed programs and their execution
// on the CPU executor or the CUDA issuer, and the harvest of completed records that the watcher thread
// turns into bulk progress reports.
#pragma once

#include <napi.h>

#include <deque>
#include <memory>
#include <string>
#include <vector>

#include "runtime.h"

namespace fr {

// One issued record of a queue stream, until the watcher has seen it complete (timing starts: until their
// end has been harvested).
struct QueueRecord {
  uint64_t seq = 0;
  uint64_t startSeq = 0;   // timing end: its start
  void* event = nullptr;   // CUDA: from the stream's pool
  double cpuMs = 0;        // CPU: steady clock when the executor reached the record
  uint8_t mode = 0;        // 0 plain, 1 timing start, 2 timing end
};

// No record asked for (QueueStream::asked, ::wanted).
constexpr uint64_t kNotWanted = UINT64_MAX;

// A stream as one queue sees it: its records are numbered 1, 2, ... in submit order.
struct QueueStream {
  std::shared_ptr<StreamImpl> stream;
  uint32_t index = 0;
  std::atomic<uint64_t>* unharvested = nullptr;  // the queue's count, which outlives its streams' work
  std::atomic<uint64_t>* timingEnds = nullptr;   // the queue's count of timing ends issued, not yet harvested

  // JS thread.
  uint64_t submitted = 0;             // records handed to submit/replay so far
  uint64_t asked = kNotWanted;        // the record JS waits for (want), until a report reaches it
  bool failureTold = false;           // a report delivered to JS carried the stream's failure
  std::vector<uint64_t> openStarts;   // timing starts submitted and not yet paired with an end

  // The thread issuing the stream's work and the watcher, from a cache line of their own: the JS thread's fields
  // above are read and written for every submit and want, and would otherwise miss on these threads' writes.
  alignas(64) std::mutex m;
  uint64_t issued = 0;
  uint64_t completed = 0;
  uint64_t failedFrom = 0;            // first failed record, 0 when none
  std::string error;
  // Reports go to JS only once they reach what it waits for, or carry a failure: a report wakes the JS thread.
  uint64_t wanted = kNotWanted;       // the record JS asked about (want), until a report reaches it
  uint64_t sent = 0;                  // completed count of the latest report
  bool failureSent = false;
  std::deque<QueueRecord> pending;    // issued, not yet seen complete, in seq order
  std::vector<QueueRecord> starts;    // complete timing starts whose end is not yet harvested
  std::vector<void*> plainEvents;     // CUDA event pools
  std::vector<void*> timingEvents;

  ~QueueStream();
};

struct QueueReport {
  std::vector<double> done;     // (stream, completed, failedFrom) triples
  std::vector<std::string> errors;
  std::vector<double> timings;  // (stream, endSeq, ms, startMs) quadruples
};

struct QueueCore;
void deliverReport(Napi::Env env, Napi::Function onProgress, QueueCore* core, QueueReport* report);
using ProgressTsfn = Napi::TypedThreadSafeFunction<QueueCore, QueueReport, deliverReport>;

// What a queue's issued work and the watcher share. Streams and communicators are never removed.
struct QueueCore {
  // Read for every op of every submit (a program's check) and written only on the JS thread: apart from the
  // lines the other threads write below, so that those reads do not miss on their writes.
  BackendKind kind = BackendKind::Cpu;
  std::vector<std::shared_ptr<QueueStream>> streams;  // appended on the JS thread under m
  std::vector<std::shared_ptr<CommImpl>> comms;
  std::atomic<bool> closed{false};  // set under m, once; read by every call
  alignas(64) std::mutex m;  // guards streams (appended on the JS thread), closed and calls into tsfn off the JS thread
  alignas(64) std::atomic<uint64_t> unharvested{0};  // records issued and not yet harvested
  // A want found its record complete and unreported while the watcher held m: the watcher's next pass reports it.
  std::atomic<bool> reportAsked{false};
  alignas(64) std::atomic<uint64_t> timingEnds{0};   // timing end records issued and not yet harvested (CUDA: anchors wanted)
  ProgressTsfn tsfn;

  std::vector<double> timings;  // under m: measured, waiting for the next report
  // The report handed to the tsfn and not yet delivered, under reportM (its own lock, so that the JS thread
  // takes the report without waiting for a harvest pass). Merging into it takes m and then reportM: closed, set
  // under m, stops merges before the tsfn is finalized. Later reports merge into it, so a JS thread that is
  // busy when completions come one by one gets one report for all of them.
  std::mutex reportM;
  QueueReport* unsent = nullptr;

  // Groups of sends and receives the CUDA issuer may merge into one NCCL group (1: none). Only a world whose
  // every communicator has all its ranks in this process merges: there one thread issues every rank's work, so
  // all ranks see the same order (issue_plan.h).
  size_t mergeGroups = 1;

  // JS thread, apart from the report the watcher writes above.
  alignas(64) uint64_t asking = 0;  // streams whose `asked` is set: the queue keeps the event loop alive meanwhile
  bool envGone = false;      // the environment tore the tsfn down
};

// Keeps the memory of buffers removed from a queue alive while work issued before the removal may use it.
// Each generation holds the next one, so a generation lives as long as any batch issued in it or before it.
struct Generation {
  std::shared_ptr<QueueCore> core;
  std::vector<std::shared_ptr<Memory>> retired;
  std::shared_ptr<Generation> next;
};

enum class QueueOpCode : uint8_t { Wait = 1, Record = 2, Copy = 3, Reduce = 4, Group = 5 };

// One parsed operation, with raw pointers: the batch's Generation keeps what they point to alive.
struct QueueOp {
  QueueOpCode code;
  uint8_t mode = 0;             // record
  DType dtype = DType::Float32; // reduce
  RedOp redop = RedOp::Sum;     // reduce
  QueueStream* stream = nullptr;   // none for a whole (CUDA) group: its items name the streams
  QueueStream* on = nullptr;    // wait: the stream whose record is waited for
  uint64_t seq = 0;             // wait and record: the record's number in the first iteration
  uint64_t step = 0;            // added per iteration
  uint64_t startSeq = 0;        // timing end
  void* dst = nullptr;
  const void* src = nullptr;
  uint64_t size = 0;            // copy: bytes; reduce: elements
  uint32_t divisor = 1;
  uint32_t first = 0, n = 0;    // reduce: inputs in Program::srcs; group: items in Program::items
};

struct Program {
  std::vector<QueueOp> ops;
  std::vector<const void*> srcs;
  std::vector<CollItem> items;
  uint64_t iterations = 1;
};

// Where the run of a program stands: the CPU executor comes back to a program that waits.
struct ProgramCursor {
  uint64_t iteration = 0;
  size_t op = 0;
  GroupProgress group;  // of the group op the cursor is at
};

// A submit's program as the CPU executor runs it, shared by the steps of the streams it touches; built with a
// few allocations, whatever the number of ops and streams. Each stream's part is a run of entries: an op, or
// for a group op that stream's items (contiguous: the items of each group are ordered by stream). Members go in
// reverse order: the parts' cursors (whose group progress joins a Gloo group's thread) before the program and
// the generation its pointers live in. The step that finishes the last part deletes it; steps dropped at
// environment shutdown leave it to the exiting process.
struct CpuProgram {
  struct Entry {
    uint32_t op = 0;
    uint32_t first = 0, n = 0;  // group: the part's items in program.items
  };
  struct Part {
    uint32_t begin = 0, end = 0;  // its entries
    ProgramCursor at;
  };
  std::shared_ptr<Generation> gen;
  Program program;
  std::vector<Entry> entries;
  std::vector<Part> parts;
  size_t unfinished = 0;  // parts not yet done (the executor thread's, once posted)
};

// A CPU stream's part of a program, as an executor step. Trivially copyable and two words, so a Step holds it
// in place: a submit allocates nothing per stream, and the executor thread frees nothing per stream.
struct ProgramStep {
  CpuProgram* program = nullptr;
  uint32_t part = 0;
  StepResult operator()(StreamImpl&) const;
};

// A program for the CUDA issuer, with what keeps its pointers alive.
struct ProgramWork {
  std::shared_ptr<Generation> gen;
  std::shared_ptr<QueueCore> core;
  Program program;
};

// The CUDA issuer's runner of ProgramWork items (issuer::postBatch): the programs of one queue found queued
// together are issued as one plan (issue_plan.h), whose p2p groups merge as the queue allows.
void issueProgramsOnCuda(std::vector<std::shared_ptr<void>>& batch);

// Issues op (not a group) of iteration i of p. False for a wait whose record has not been reached (CPU: it is
// behind other work of its stream; the CUDA plan issues a wait only once its record is issued).
bool issueOp(const Program& p, const QueueOp& op, uint64_t i, Backend& backend, std::vector<const void*>& inputs);

// Runs a CPU program's part from its cursor on the executor (the ops of one stream). Unless Done, it stopped at
// an op that waits (a record of another stream not reached yet, a peer rank): call it again.
StepResult runPart(CpuProgram& p, CpuProgram::Part& part, Backend& backend);

// One watcher pass over a queue: harvests completed records and sends one report of the streams that reached
// what JS asked for (want), failed, or measured a timing. Returns whether any record was harvested; sets
// *deviceWork when CUDA records remain pending.
bool harvestQueue(QueueCore& q, bool* deviceWork);

// Puts the stream's completion into a report being built, with the timings measured since the last report,
// and marks it sent (q.m and s.m held).
void addToReport(QueueCore& q, QueueStream& s, QueueReport& report);

// Sends what `part` holds (q.m held; emptied): merged into the undelivered report, a stream's newer triple in
// place of its older one, or else as a new report; dropped if the tsfn refuses it (the queue closing).
void sendReport(QueueCore& q, QueueReport& part);

// The watcher thread's registry of open queues (watcher.cc). Busy: records to harvest, or a report asked for.
void watchQueue(std::shared_ptr<QueueCore> q);
bool anyQueueBusy();
bool anyReportAsked();

}  // namespace fr
