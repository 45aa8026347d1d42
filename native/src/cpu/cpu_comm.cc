#include "cpu_comm.h"

#include <chrono>
#include <cstring>
#include <deque>
#include <memory>
#include <map>
#include <random>

#include "../executor.h"
#include "elem.h"
#include "gloo_comm.h"

namespace fr::cpu {

namespace {

std::string describe(const CollItem& it) {
  return std::string(collKindName(it.kind)) + "(" + dtypeName(it.dtype) + ", count " + std::to_string(it.count) + ")";
}

using Clock = std::chrono::steady_clock;

}  // namespace

struct CommGroup {
  std::string id;
  int size = 0;
  int timeoutMs = 0;
  std::mutex m;
  std::condition_variable cv;
  std::vector<bool> joined;
  int joinedCount = 0;
  // Once set, every later operation on any rank fails with it: a timeout or an abort leaves peers mid-protocol.
  std::string broken;

  struct Round {
    std::vector<const CollItem*> items;
    std::vector<Status> results;  // of each rank, once complete
    int arrived = 0;
    int departed = 0;
    bool complete = false;
  };
  std::map<uint64_t, Round> rounds;
  std::vector<uint64_t> seq;

  struct Message {
    const void* ptr;
    size_t count;
    DType dtype;
    bool consumed = false;
    std::string error;
  };
  std::map<std::pair<int, int>, std::deque<std::shared_ptr<Message>>> channels;

  Clock::time_point deadline() const { return Clock::now() + std::chrono::milliseconds(timeoutMs); }

  void breakWith(const std::string& why) {
    if (broken.empty()) broken = why;
    cv.notify_all();
  }

  // Each returns false while the rank has to wait for a peer (call it again with the same progress), true once
  // done with the outcome in *out. They run on the CPU executor.
  bool tryCollective(int rank, const CollItem& it, GroupProgress& p, Status* out);
  std::shared_ptr<Message> post(int rank, const CollItem& it);
  bool tryReceive(int rank, const CollItem& it, GroupProgress& p, Status* out);
  bool tryConsumed(int rank, const CollItem& it, const std::shared_ptr<Message>& msg, GroupProgress& p, Status* out);

 private:
  void complete(std::unique_lock<std::mutex>& lock, Round& round, uint64_t s);
  // Whether the wait p is in has run out: past its deadline while the executor found nothing else to do (time
  // it spent on other streams' work does not count), or past a second timeout whatever it did.
  bool timedOut(const GroupProgress& p) const {
    auto now = Clock::now();
    return now >= p.deadline && (executor::quiet() || now >= p.deadline + std::chrono::milliseconds(timeoutMs));
  }
  // Starts the wait of the item p is at.
  void startWait(GroupProgress& p) const {
    if (p.waiting) return;
    p.waiting = true;
    p.deadline = deadline();
  }
};

namespace {
std::mutex g_groupsMutex;
std::map<std::string, std::weak_ptr<CommGroup>> g_groups;

std::string missingRanks(const std::vector<const CollItem*>& items) {
  std::string out;
  for (size_t r = 0; r < items.size(); r++) {
    if (items[r] == nullptr) out += (out.empty() ? "" : ", ") + std::to_string(r);
  }
  return out;
}
}  // namespace

void CpuComm::abort() {
  {
    std::lock_guard<std::mutex> lock(group->m);
    group->breakWith("communicator aborted");
  }
  executor::kick();
}

std::string CpuComm::asyncError() {
  std::lock_guard<std::mutex> lock(group->m);
  return group->broken;
}

std::string newUniqueId() {
  std::random_device rd;
  std::string id(128, '\0');
  for (auto& c : id) c = static_cast<char>(rd() & 0xff);
  return id;
}

namespace {

// Takes a group out of the registry, where it is still the one registered under its id.
void forget(const std::shared_ptr<CommGroup>& group) {
  std::lock_guard<std::mutex> lock(g_groupsMutex);
  auto it = g_groups.find(group->id);
  if (it != g_groups.end() && it->second.lock() == group) g_groups.erase(it);
}

}  // namespace

Joined joinComms(const std::string& id, int nranks, const std::vector<Member>& members, int timeoutMs) {
  Joined out;
  {
    std::lock_guard<std::mutex> lock(g_groupsMutex);
    out.group = g_groups[id].lock();
    if (!out.group) {
      out.group = std::make_shared<CommGroup>();
      out.group->id = id;
      out.group->size = nranks;
      out.group->timeoutMs = timeoutMs;
      out.group->joined.assign(nranks, false);
      out.group->seq.assign(nranks, 0);
      g_groups[id] = out.group;
    }
  }
  CommGroup& group = *out.group;
  bool broke = false;  // this call broke the group: it is no one's to join again
  {
    std::lock_guard<std::mutex> lock(group.m);
    if (group.size != nranks) {
      out.error = "communicator has " + std::to_string(group.size) + " ranks but this rank was told " + std::to_string(nranks);
      return out;
    }
    for (const auto& mem : members) {
      if (group.joined[mem.rank]) {
        out.error = "rank " + std::to_string(mem.rank) + " joined the communicator twice";
        group.breakWith(out.error);
        out.comms.clear();
        broke = true;
        break;
      }
      group.joined[mem.rank] = true;
      group.joinedCount++;
      auto c = std::make_shared<CpuComm>();
      c->device = mem.device;
      c->rank = mem.rank;
      c->size = nranks;
      c->group = out.group;
      out.comms.push_back(c);
    }
    group.cv.notify_all();
  }
  if (broke) forget(out.group);
  return out;
}

std::vector<std::shared_ptr<CommImpl>> awaitComms(Joined& joined, int timeoutMs, std::string* error) {
  if (!joined.error.empty()) {
    *error = joined.error;
    return {};
  }
  CommGroup& group = *joined.group;
  {
    std::unique_lock<std::mutex> lock(group.m);
    bool all = waitInterruptible(
        lock, group.cv, [&] { return group.joinedCount == group.size || !group.broken.empty(); }, group.deadline());
    if (all && group.broken.empty()) return std::move(joined.comms);
    if (!group.broken.empty()) {
      *error = group.broken;
    } else {
      std::string missing;
      for (int r = 0; r < group.size; r++) {
        if (!group.joined[r]) missing += (missing.empty() ? "" : ", ") + std::to_string(r);
      }
      *error = "communicator init timed out after " + std::to_string(timeoutMs) + " ms waiting for ranks [" + missing + "]";
      group.breakWith(*error);
    }
  }
  // A broken group is no one's to join again: a retry with the same id starts a fresh one.
  forget(joined.group);
  return {};
}

bool CommGroup::tryCollective(int rank, const CollItem& it, GroupProgress& p, Status* out) {
  std::unique_lock<std::mutex> lock(m);
  if (!p.waiting) {
    if (!broken.empty()) {
      *out = Status::Fail(broken);
      return true;
    }
    startWait(p);
    p.round = seq[rank]++;
    Round& round = rounds[p.round];
    if (round.items.empty()) round.items.assign(size, nullptr);
    round.items[rank] = &it;
    if (++round.arrived == size) complete(lock, round, p.round);
  }
  Round& round = rounds[p.round];
  if (round.complete) {
    *out = round.results[rank];
    if (++round.departed == size) rounds.erase(p.round);
    return true;
  }
  // Until the last rank arrives, leaving is safe: a rank that arrives after the comm broke returns at the check
  // on entry, before the round looks at anyone's items.
  if (broken.empty() && timedOut(p)) {
    breakWith(std::string(collKindName(it.kind)) + " #" + std::to_string(p.round) + " timed out after " +
              std::to_string(timeoutMs) + " ms waiting for ranks [" + missingRanks(round.items) + "]");
  }
  if (broken.empty()) return false;
  *out = Status::Fail(broken);
  if (--round.arrived == 0) rounds.erase(p.round);
  return true;
}

namespace {

// The staging of one collective's outputs: a buffer of the completing thread, reused while it is at most
// kKeptBytes (allocating and zeroing a fresh one faulted its pages in every time: at 32 MiB per rank that was
// most of a collective's time), else one of its own, not zeroed, for this collective only.
class Scratch {
 public:
  explicit Scratch(size_t bytes) {
    if (bytes > kKeptBytes) {
      own_.reset(new char[bytes]);
      data_ = own_.get();
      return;
    }
    thread_local std::vector<char> kept;
    if (kept.size() < bytes) kept.resize(bytes);
    data_ = kept.data();
  }
  char* data() { return data_; }

 private:
  static constexpr size_t kKeptBytes = size_t{64} << 20;
  std::unique_ptr<char[]> own_;
  char* data_ = nullptr;
};

}  // namespace

// The last rank has arrived: every rank's output at once. Outputs may alias inputs, so all are computed before
// any is written. Once every rank has arrived the round runs to its end, abort or not.
void CommGroup::complete(std::unique_lock<std::mutex>& lock, Round& round, uint64_t s) {
  const CollItem& first = *round.items[0];
  std::string mismatch;
  for (int r = 1; r < size && mismatch.empty(); r++) {
    const CollItem& other = *round.items[r];
    bool reduces = first.kind != CollKind::AllGather;
    if (other.kind != first.kind || other.dtype != first.dtype || other.count != first.count ||
        (reduces && other.op != first.op)) {
      mismatch = "rank " + std::to_string(r) + " called " + describe(other) + " where rank 0 called " +
                 describe(first) + " (collective #" + std::to_string(s) + ")";
    }
  }
  if (!mismatch.empty()) {
    round.results.assign(size, Status::Fail(mismatch));
    round.complete = true;
    return;
  }
  lock.unlock();
  size_t bytes = first.count * dtypeSize(first.dtype);
  Scratch temp(first.kind == CollKind::AllReduce ? bytes : bytes * size);
  std::vector<const void*> inputs(size);
  // A collective of no elements moves nothing (its buffers may be null, which memcpy may not be handed).
  if (bytes > 0) {
    switch (first.kind) {
      case CollKind::AllGather:
        for (int r = 0; r < size; r++) std::memcpy(temp.data() + r * bytes, round.items[r]->send, bytes);
        for (int r = 0; r < size; r++) std::memcpy(round.items[r]->recv, temp.data(), bytes * size);
        break;
      case CollKind::AllReduce:
        for (int r = 0; r < size; r++) inputs[r] = round.items[r]->send;
        reduceBytes(temp.data(), inputs, first.count, first.dtype, first.op, static_cast<uint32_t>(size));
        for (int r = 0; r < size; r++) std::memcpy(round.items[r]->recv, temp.data(), bytes);
        break;
      default:  // ReduceScatter: rank r gets the reduction of everyone's r-th chunk
        for (int r = 0; r < size; r++) {
          for (int q = 0; q < size; q++) inputs[q] = static_cast<const char*>(round.items[q]->send) + r * bytes;
          reduceBytes(temp.data() + r * bytes, inputs, first.count, first.dtype, first.op, static_cast<uint32_t>(size));
        }
        for (int r = 0; r < size; r++) std::memcpy(round.items[r]->recv, temp.data() + r * bytes, bytes);
        break;
    }
  }
  lock.lock();
  round.results.assign(size, Status::Ok());
  round.complete = true;
}

std::shared_ptr<CommGroup::Message> CommGroup::post(int rank, const CollItem& it) {
  auto msg = std::make_shared<Message>(Message{it.send, it.count, it.dtype, false, {}});
  std::lock_guard<std::mutex> lock(m);
  channels[{rank, it.peer}].push_back(msg);
  return msg;
}

bool CommGroup::tryReceive(int rank, const CollItem& it, GroupProgress& p, Status* out) {
  std::lock_guard<std::mutex> lock(m);
  startWait(p);
  auto& channel = channels[{it.peer, rank}];
  if (broken.empty() && channel.empty()) {
    if (!timedOut(p)) return false;
    breakWith("recv from rank " + std::to_string(it.peer) + " on rank " + std::to_string(rank) + " timed out after " +
              std::to_string(timeoutMs) + " ms");
  }
  if (!broken.empty()) {
    *out = Status::Fail(broken);
    return true;
  }
  auto msg = channel.front();
  channel.pop_front();
  if (msg->count != it.count || msg->dtype != it.dtype) {
    *out = Status::Fail("rank " + std::to_string(it.peer) + " sent " + dtypeName(msg->dtype) + " x " +
                        std::to_string(msg->count) + " but rank " + std::to_string(rank) + " expected " +
                        dtypeName(it.dtype) + " x " + std::to_string(it.count));
    msg->error = out->error;
  } else {
    std::memmove(it.recv, msg->ptr, it.count * dtypeSize(it.dtype));
    *out = Status::Ok();
  }
  msg->consumed = true;
  return true;
}

bool CommGroup::tryConsumed(int rank, const CollItem& it, const std::shared_ptr<Message>& msg, GroupProgress& p,
                            Status* out) {
  std::lock_guard<std::mutex> lock(m);
  startWait(p);
  if (msg->consumed) {
    *out = msg->error.empty() ? Status::Ok() : Status::Fail(msg->error);
    return true;
  }
  if (broken.empty()) {
    if (!timedOut(p)) return false;
    breakWith("send from rank " + std::to_string(rank) + " to rank " + std::to_string(it.peer) + " timed out after " +
              std::to_string(timeoutMs) + " ms");
  }
  *out = Status::Fail(broken);
  return true;
}

bool stepRankGroup(const CollItem* begin, size_t n, GroupProgress& p) {
  if (n > 0 && isGlooComm(begin->comm)) {
    if (!p.running) {
      p.running = std::make_shared<BlockingRun>();
      p.running->thread = std::thread([run = p.running.get(), begin, n] {
        nameThread("fr-gloo-group");
        run->status = runGlooGroup(begin, n);
        run->done = true;
        executor::kick();
      });
      return false;
    }
    if (!p.running->done) return false;
    p.first = p.running->status;
    p.running.reset();
    return true;
  }
  enum Phase { kStart = 0, kCollectives, kReceives, kSendsConsumed, kDone };
  if (p.phase == kStart) {
    for (size_t i = 0; i < n; i++) {
      if (begin[i].kind != CollKind::Send) continue;
      auto& comm = static_cast<CpuComm&>(*begin[i].comm);
      p.posted.push_back(comm.group->post(comm.rank, begin[i]));
    }
    p.phase = kCollectives;
    p.at = 0;
  }
  for (; p.phase != kDone; p.phase++, p.at = 0) {
    size_t sends = 0;  // sends before p.at
    for (size_t i = 0; i < p.at; i++) sends += begin[i].kind == CollKind::Send ? 1 : 0;
    for (; p.at < n; p.at++) {
      const CollItem& it = begin[p.at];
      auto& comm = static_cast<CpuComm&>(*it.comm);
      bool point = it.kind == CollKind::Send || it.kind == CollKind::Recv;
      Status st;
      bool done = true;
      if (p.phase == kCollectives && !point) {
        done = comm.group->tryCollective(comm.rank, it, p, &st);
      } else if (p.phase == kReceives && it.kind == CollKind::Recv) {
        done = comm.group->tryReceive(comm.rank, it, p, &st);
      } else if (p.phase == kSendsConsumed && it.kind == CollKind::Send) {
        auto msg = std::static_pointer_cast<CommGroup::Message>(p.posted[sends]);
        done = comm.group->tryConsumed(comm.rank, it, msg, p, &st);
      }
      if (!done) return false;
      p.waiting = false;
      if (p.first.ok() && !st.ok()) p.first = st;
      if (it.kind == CollKind::Send) sends++;
    }
  }
  return true;
}

}  // namespace fr::cpu
