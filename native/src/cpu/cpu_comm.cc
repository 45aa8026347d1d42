#include "cpu_comm.h"

#include <chrono>
#include <cstring>
#include <deque>
#include <map>
#include <random>

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
    int arrived = 0;
    int computed = 0;
    int departed = 0;
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

  Status collective(int rank, const CollItem& it);
  std::shared_ptr<Message> post(int rank, const CollItem& it);
  Status receive(int rank, const CollItem& it);
  Status awaitConsumed(int rank, const CollItem& it, const std::shared_ptr<Message>& msg);
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
  std::lock_guard<std::mutex> lock(group->m);
  group->breakWith("communicator aborted");
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

std::vector<std::shared_ptr<CommImpl>> initComms(const std::string& id, int nranks, const std::vector<Member>& members,
                                                 int timeoutMs, std::string* error) {
  std::shared_ptr<CommGroup> group;
  {
    std::lock_guard<std::mutex> lock(g_groupsMutex);
    group = g_groups[id].lock();
    if (!group) {
      group = std::make_shared<CommGroup>();
      group->id = id;
      group->size = nranks;
      group->timeoutMs = timeoutMs;
      group->joined.assign(nranks, false);
      group->seq.assign(nranks, 0);
      g_groups[id] = group;
    }
  }
  std::vector<std::shared_ptr<CommImpl>> comms;
  std::unique_lock<std::mutex> lock(group->m);
  if (group->size != nranks) {
    *error = "communicator has " + std::to_string(group->size) + " ranks but this rank was told " +
             std::to_string(nranks);
    return {};
  }
  for (const auto& mem : members) {
    if (group->joined[mem.rank]) {
      *error = "rank " + std::to_string(mem.rank) + " joined the communicator twice";
      group->breakWith(*error);
      return {};
    }
    group->joined[mem.rank] = true;
    group->joinedCount++;
    auto c = std::make_shared<CpuComm>();
    c->device = mem.device;
    c->rank = mem.rank;
    c->size = nranks;
    c->group = group;
    comms.push_back(c);
  }
  group->cv.notify_all();
  bool all = waitInterruptible(
      lock, group->cv, [&] { return group->joinedCount == group->size || !group->broken.empty(); },
      group->deadline());
  if (!group->broken.empty()) {
    *error = group->broken;
    return {};
  }
  if (!all) {
    std::string missing;
    for (int r = 0; r < group->size; r++) {
      if (!group->joined[r]) missing += (missing.empty() ? "" : ", ") + std::to_string(r);
    }
    *error = "communicator init timed out after " + std::to_string(timeoutMs) + " ms waiting for ranks [" + missing +
             "]";
    group->breakWith(*error);
    return {};
  }
  return comms;
}

Status CommGroup::collective(int rank, const CollItem& it) {
  std::unique_lock<std::mutex> lock(m);
  if (!broken.empty()) return Status::Fail(broken);
  uint64_t s = seq[rank]++;
  Round& round = rounds[s];
  if (round.items.empty()) round.items.assign(size, nullptr);
  round.items[rank] = &it;
  round.arrived++;
  cv.notify_all();
  waitInterruptible(
      lock, cv, [&] { return round.arrived == size || !broken.empty(); }, deadline());
  // Once every rank has arrived the round runs to its end, abort or not: peers are already reading this
  // rank's input and waiting for it at the barrier below. Until then, leaving is safe: a rank that arrives
  // after the comm broke returns at the check on entry, before it looks at anyone's items.
  if (round.arrived != size) {
    if (broken.empty()) {
      breakWith(std::string(collKindName(it.kind)) + " #" + std::to_string(s) + " timed out after " +
                std::to_string(timeoutMs) + " ms waiting for ranks [" + missingRanks(round.items) + "]");
    }
    return Status::Fail(broken);
  }
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
  Status result;
  std::vector<char> temp;
  if (mismatch.empty()) {
    lock.unlock();
    size_t esz = dtypeSize(it.dtype);
    if (it.kind == CollKind::AllGather) {
      size_t bytes = it.count * esz;
      temp.resize(bytes * size);
      for (int r = 0; r < size; r++) std::memcpy(temp.data() + r * bytes, round.items[r]->send, bytes);
    } else {
      size_t offset = it.kind == CollKind::ReduceScatter ? static_cast<size_t>(rank) * it.count * esz : 0;
      std::vector<const void*> inputs(size);
      for (int r = 0; r < size; r++) inputs[r] = static_cast<const char*>(round.items[r]->send) + offset;
      temp.resize(it.count * esz);
      reduceBytes(temp.data(), inputs, it.count, it.dtype, it.op, static_cast<uint32_t>(size));
    }
    lock.lock();
  } else {
    result = Status::Fail(mismatch);
  }
  // Nobody writes its output until every rank has read every input: outputs may alias inputs.
  round.computed++;
  cv.notify_all();
  if (!waitInterruptible(lock, cv, [&] { return round.computed == size; })) {
    return Status::Fail("runtime shutting down");
  }
  if (result.ok()) std::memcpy(it.recv, temp.data(), temp.size());
  if (++round.departed == size) rounds.erase(s);
  return result;
}

std::shared_ptr<CommGroup::Message> CommGroup::post(int rank, const CollItem& it) {
  auto msg = std::make_shared<Message>(Message{it.send, it.count, it.dtype, false, {}});
  std::lock_guard<std::mutex> lock(m);
  channels[{rank, it.peer}].push_back(msg);
  cv.notify_all();
  return msg;
}

Status CommGroup::receive(int rank, const CollItem& it) {
  std::unique_lock<std::mutex> lock(m);
  auto& channel = channels[{it.peer, rank}];
  bool got = waitInterruptible(
      lock, cv, [&] { return !channel.empty() || !broken.empty(); }, deadline());
  if (!broken.empty()) return Status::Fail(broken);
  if (!got) {
    breakWith("recv from rank " + std::to_string(it.peer) + " on rank " + std::to_string(rank) + " timed out after " +
              std::to_string(timeoutMs) + " ms");
    return Status::Fail(broken);
  }
  auto msg = channel.front();
  channel.pop_front();
  Status st;
  if (msg->count != it.count || msg->dtype != it.dtype) {
    st = Status::Fail("rank " + std::to_string(it.peer) + " sent " + dtypeName(msg->dtype) + " x " +
                      std::to_string(msg->count) + " but rank " + std::to_string(rank) + " expected " +
                      dtypeName(it.dtype) + " x " + std::to_string(it.count));
    msg->error = st.error;
  } else {
    std::memmove(it.recv, msg->ptr, it.count * dtypeSize(it.dtype));
  }
  msg->consumed = true;
  cv.notify_all();
  return st;
}

Status CommGroup::awaitConsumed(int rank, const CollItem& it, const std::shared_ptr<Message>& msg) {
  std::unique_lock<std::mutex> lock(m);
  bool done = waitInterruptible(
      lock, cv, [&] { return msg->consumed || !broken.empty(); }, deadline());
  if (msg->consumed) return msg->error.empty() ? Status::Ok() : Status::Fail(msg->error);
  if (!broken.empty()) return Status::Fail(broken);
  if (!done) {
    breakWith("send from rank " + std::to_string(rank) + " to rank " + std::to_string(it.peer) + " timed out after " +
              std::to_string(timeoutMs) + " ms");
  }
  return Status::Fail(broken);
}

Status runRankGroup(const CollItem* begin, size_t n) {
  if (n > 0 && isGlooComm(begin->comm)) return runGlooGroup(begin, n);
  const CollItem* end = begin + n;
  Status first;
  auto keep = [&](const Status& st) {
    if (first.ok() && !st.ok()) first = st;
  };
  std::vector<std::pair<const CollItem*, std::shared_ptr<CommGroup::Message>>> sends;
  for (const CollItem* p = begin; p != end; ++p) {
    const CollItem& it = *p;
    if (it.kind != CollKind::Send) continue;
    auto& comm = static_cast<CpuComm&>(*it.comm);
    sends.emplace_back(&it, comm.group->post(comm.rank, it));
  }
  for (const CollItem* p = begin; p != end; ++p) {
    const CollItem& it = *p;
    if (it.kind == CollKind::Send || it.kind == CollKind::Recv) continue;
    auto& comm = static_cast<CpuComm&>(*it.comm);
    keep(comm.group->collective(comm.rank, it));
  }
  for (const CollItem* p = begin; p != end; ++p) {
    const CollItem& it = *p;
    if (it.kind != CollKind::Recv) continue;
    auto& comm = static_cast<CpuComm&>(*it.comm);
    keep(comm.group->receive(comm.rank, it));
  }
  for (const auto& [it, msg] : sends) {
    auto& comm = static_cast<CpuComm&>(*it->comm);
    keep(comm.group->awaitConsumed(comm.rank, *it, msg));
  }
  return first;
}

}  // namespace fr::cpu
