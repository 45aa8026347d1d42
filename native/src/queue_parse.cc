// The Queue's program checker: a packed program (src/native.ts documents the layout) read and checked as a
// whole on the JS thread, every error naming the op and its field, before anything is issued.
#include <algorithm>
#include <cstdio>
#include <iterator>

#include "cuda/nccl_group.h"
#include "queue_parse.h"

namespace fr {

namespace {

constexpr double kMaxSafe = 9007199254740991.0;
constexpr uint64_t kDTypeCount = std::size(kDTypes);
constexpr uint64_t kRedOpCount = std::size(kRedOps);
constexpr uint64_t kCollKindCount = std::size(kCollKinds);
constexpr size_t kItemWidth = 11;

const char* const kOpNames[] = {"?", "wait", "record", "copy", "reduce", "group"};

std::string number(double v) {
  char text[32];
  std::snprintf(text, sizeof(text), "%.17g", v);
  return text;
}

// Reads the fields of one program; every error names the op and its field. Only the error paths build strings.
struct Reader {
  Napi::Env env;
  const double* f;
  size_t length;
  size_t op = 0;        // ordinal of the op being read
  uint8_t code = 0;
  int64_t item = -1;    // inside a group: the item being read
  const char* itemKind = nullptr;

  std::string prefix() const {
    std::string out = "ops[" + std::to_string(op) + "] (" + kOpNames[code] + "): ";
    if (item >= 0) out += "items[" + std::to_string(item) + "]" + (itemKind ? std::string(" (") + itemKind + ")" : "") + ": ";
    return out;
  }
  [[noreturn]] void range(const std::string& message) const { throw Napi::RangeError::New(env, prefix() + message); }
  [[noreturn]] void type(const std::string& message) const { throw Napi::TypeError::New(env, prefix() + message); }

  uint64_t integer(size_t at, const char* field) const {
    double v = f[at];
    if (!(v >= 0 && v <= kMaxSafe) || v != static_cast<double>(static_cast<uint64_t>(v))) {
      range(std::string(field) + " must be a non-negative integer, got " + number(v));
    }
    return static_cast<uint64_t>(v);
  }

  void unused(size_t at, const char* field, CollKind k) const {
    if (f[at] != -1) {
      range(std::string(field) + " must be -1 (unused by " + collKindName(k) + "), got " + number(f[at]));
    }
  }
};

}  // namespace

// The ops argument of submit, replay and plan, parsed and checked. Replayed, a record and a wait on a record the
// program itself makes move on by the stream's records of one iteration (recs_ holds the counts at its end). A
// wait on an earlier record of a stream the program records on waits, in each iteration, for that stream's last
// record before the iteration (the iteration before's, or the last before the replay for the first): replayed
// work never overtakes what the iteration before did on a stream it depends on (a slot the program reuses
// every iteration, say), where a constant wait would let iterations overlap that the program orders.
void Queue::check(const Napi::CallbackInfo& info, bool replay, Parsed& parsed) {
  Napi::Env env = info.Env();
  checkOpen(env);
  if (!info[0].IsTypedArray() || info[0].As<Napi::TypedArray>().TypedArrayType() != napi_float64_array) {
    throw Napi::TypeError::New(env, "ops must be a Float64Array");
  }
  auto ops = info[0].As<Napi::Float64Array>();
  uint64_t length = toIndex(info[1], "length");
  if (length > ops.ElementLength()) {
    throw Napi::RangeError::New(env, "length " + std::to_string(length) + " exceeds ops.length " +
                                         std::to_string(ops.ElementLength()));
  }
  parse(env, ops.Data(), static_cast<size_t>(length), replay, parsed);
  if (!replay) return;
  for (QueueOp& op : parsed.program.ops) {
    if (op.code == QueueOpCode::Record) op.step = recs_[op.stream->index] - op.stream->submitted;
    if (op.code != QueueOpCode::Wait) continue;
    op.step = recs_[op.on->index] - op.on->submitted;
    if (op.step > 0 && op.seq <= op.on->submitted) op.seq = op.on->submitted;
  }
}

void Queue::parse(Napi::Env env, const double* f, size_t length, bool replay, Parsed& out) {
  out.clear();
  auto& streams = core_->streams;
  recs_.resize(streams.size());
  for (size_t i = 0; i < streams.size(); i++) recs_[i] = streams[i]->submitted;
  Program& p = out.program;
  Reader r{env, f, length};

  auto need = [&](size_t pos, uint64_t width) {
    if (length - pos < width) {
      r.range("truncated: needs " + std::to_string(width) + " fields, " + std::to_string(length - pos) +
              " left before length " + std::to_string(length));
    }
  };
  auto streamAt = [&](size_t at, const char* field) -> QueueStream* {
    uint64_t i = r.integer(at, field);
    if (i >= streams.size()) {
      r.range(std::string(field) + " " + std::to_string(i) + " is not a registered stream (" +
              std::to_string(streams.size()) + " registered)");
    }
    QueueStream* s = streams[i].get();
    if (s->stream->closed.load()) r.type(std::string(field) + " " + std::to_string(i) + " is closed");
    return s;
  };
  // A byte range of a registered buffer on the stream's device, aligned to `align`; returns its address.
  auto bufferAt = [&](size_t at, size_t offAt, uint64_t bytes, uint64_t align, const QueueStream& s, const char* field,
                      const char* offField) -> char* {
    uint64_t i = r.integer(at, field);
    if (i >= buffers_.size() || !buffers_[i]) {
      r.range(std::string(field) + " " + std::to_string(i) + " is not a registered buffer");
    }
    const Memory& mem = *buffers_[i];
    uint64_t off = r.integer(offAt, offField);
    const DeviceImpl& d = *s.stream->device;
    if (mem.device->ordinal != d.ordinal) {
      r.type(std::string(field) + " (buffer " + std::to_string(i) + ") lives on " + deviceLabel(*mem.device) +
             ", stream " + std::to_string(s.index) + " on " + deviceLabel(d));
    }
    if (off % align != 0) {
      r.range(std::string(offField) + " " + std::to_string(off) + " is not a multiple of the element size " +
              std::to_string(align));
    }
    if (off > mem.bytes || bytes > mem.bytes - off) {
      r.range("bytes " + std::to_string(bytes) + " at " + offField + " " + std::to_string(off) + " exceed buffer " +
              std::to_string(i) + " (" + std::to_string(mem.bytes) + " bytes)");
    }
    return static_cast<char*>(mem.ptr) + off;
  };
  // count elements of esz bytes times mult, refusing what cannot fit any buffer (and so cannot overflow).
  auto bytesOf = [&](uint64_t count, uint64_t esz, uint64_t mult, const char* field) -> uint64_t {
    if (count > (uint64_t{1} << 53) / esz / mult) r.range(std::string(field) + " " + std::to_string(count) + " is too large");
    return count * esz * mult;
  };
  auto code = [&](size_t at, const char* field, uint64_t limit) -> uint64_t {
    uint64_t v = r.integer(at, field);
    if (v >= limit) r.range(std::string(field) + " " + std::to_string(v) + " is not below " + std::to_string(limit));
    return v;
  };
  auto isOpenStart = [&](uint32_t stream, uint64_t seq) {
    auto same = [&](const std::pair<uint32_t, uint64_t>& x) { return x.first == stream && x.second == seq; };
    if (std::any_of(out.startsPaired.begin(), out.startsPaired.end(), same)) return false;
    const auto& open = streams[stream]->openStarts;
    return std::find(open.begin(), open.end(), seq) != open.end() ||
           std::any_of(out.startsAdded.begin(), out.startsAdded.end(), same);
  };

  size_t pos = 0;
  for (r.op = 0; pos < length; r.op++) {
    double c = f[pos];
    r.code = c >= 1 && c <= 5 && c == static_cast<double>(static_cast<int>(c)) ? static_cast<uint8_t>(c) : 0;
    if (r.code == 0) {
      throw Napi::RangeError::New(env, "ops[" + std::to_string(r.op) + "]: unknown op code " + number(c) + " at index " +
                                           std::to_string(pos));
    }
    QueueOp op{static_cast<QueueOpCode>(r.code)};
    switch (op.code) {
      case QueueOpCode::Wait: {
        need(pos, 4);
        op.stream = streamAt(pos + 1, "stream");
        op.on = streamAt(pos + 2, "onStream");
        op.seq = r.integer(pos + 3, "seq");
        uint64_t made = recs_[op.on->index];
        if (op.seq == 0 || op.seq > made) {
          r.range("seq " + std::to_string(op.seq) + " is not a record of stream " + std::to_string(op.on->index) + " (" +
                  std::to_string(made) + " recorded by then)");
        }
        pos += 4;
        break;
      }
      case QueueOpCode::Record: {
        need(pos, 4);
        op.stream = streamAt(pos + 1, "stream");
        uint64_t mode = code(pos + 2, "mode", 3);
        uint32_t s = op.stream->index;
        op.seq = ++recs_[s];
        // Replayed timing records become plain ones: nothing to pair.
        if (mode == 1 && !replay) out.startsAdded.emplace_back(s, op.seq);
        if (mode == 2 && !replay) {
          op.startSeq = r.integer(pos + 3, "startSeq");
          if (!isOpenStart(s, op.startSeq)) {
            r.range("startSeq " + std::to_string(op.startSeq) + " is not an unpaired timing start of stream " +
                    std::to_string(s));
          }
          out.startsPaired.emplace_back(s, op.startSeq);
        }
        op.mode = replay ? 0 : static_cast<uint8_t>(mode);
        pos += 4;
        break;
      }
      case QueueOpCode::Copy: {
        need(pos, 7);
        op.stream = streamAt(pos + 1, "stream");
        op.size = r.integer(pos + 6, "bytes");
        op.dst = bufferAt(pos + 2, pos + 3, op.size, 1, *op.stream, "dst", "dstOffset");
        op.src = bufferAt(pos + 4, pos + 5, op.size, 1, *op.stream, "src", "srcOffset");
        pos += 7;
        break;
      }
      case QueueOpCode::Reduce: {
        need(pos, 9);
        op.stream = streamAt(pos + 1, "stream");
        op.dtype = static_cast<DType>(code(pos + 2, "dtype", kDTypeCount));
        op.redop = static_cast<RedOp>(code(pos + 3, "redop", kRedOpCount));
        op.size = r.integer(pos + 4, "count");
        uint64_t divisor = r.integer(pos + 5, "divisor");
        if (divisor == 0 || divisor > 0xffffffffu) {
          r.range("divisor " + std::to_string(divisor) + " is not between 1 and 2^32-1");
        }
        op.divisor = static_cast<uint32_t>(divisor);
        uint64_t esz = dtypeSize(op.dtype);
        uint64_t bytes = bytesOf(op.size, esz, 1, "count");
        op.dst = bufferAt(pos + 6, pos + 7, bytes, esz, *op.stream, "dst", "dstOffset");
        uint64_t k = r.integer(pos + 8, "k");
        if (k == 0) r.range("k must be at least 1");
        need(pos, 9 + 2 * k);
        op.first = static_cast<uint32_t>(p.srcs.size());
        op.n = static_cast<uint32_t>(k);
        for (uint64_t j = 0; j < k; j++) {
          size_t at = pos + 9 + 2 * j;
          p.srcs.push_back(bufferAt(at, at + 1, bytes, esz, *op.stream, "input buffer", "input offset"));
        }
        pos += 9 + 2 * k;
        break;
      }
      case QueueOpCode::Group: {
        need(pos, 2);
        uint64_t n = r.integer(pos + 1, "n");
        if (n == 0) r.range("n must be at least 1");
        need(pos, 2 + kItemWidth * n);
        op.first = static_cast<uint32_t>(p.items.size());
        op.n = static_cast<uint32_t>(n);
        for (uint64_t j = 0; j < n; j++) {
          size_t at = pos + 2 + kItemWidth * j;
          r.item = static_cast<int64_t>(j);
          r.itemKind = nullptr;
          CollItem it;
          it.kind = static_cast<CollKind>(code(at, "kind", kCollKindCount));
          r.itemKind = collKindName(it.kind);
          QueueStream* s = streamAt(at + 1, "stream");
          uint64_t ci = r.integer(at + 2, "comm");
          if (ci >= core_->comms.size()) r.range("comm " + std::to_string(ci) + " is not a registered comm");
          it.stream = s->stream.get();
          it.comm = core_->comms[ci].get();
          const DeviceImpl& d = *it.stream->device;
          if (it.comm->device->ordinal != d.ordinal) {
            r.type("comm " + std::to_string(ci) + " (rank " + std::to_string(it.comm->rank) + ") lives on " +
                   deviceLabel(*it.comm->device) + ", stream " + std::to_string(s->index) + " on " + deviceLabel(d));
          }
          it.dtype = static_cast<DType>(code(at + 3, "dtype", kDTypeCount));
          bool reduces = it.kind == CollKind::AllReduce || it.kind == CollKind::ReduceScatter;
          if (reduces) {
            it.op = static_cast<RedOp>(code(at + 4, "redop", kRedOpCount));
          } else {
            r.unused(at + 4, "redop", it.kind);
          }
          it.count = r.integer(at + 5, "count");
          uint64_t esz = dtypeSize(it.dtype);
          uint64_t size = static_cast<uint64_t>(it.comm->size);
          // The send or the receive side: unused by the kind that has none, else count elements (times the comm
          // size where the collective moves that many) of a buffer.
          auto side = [&](bool none, size_t fieldAt, const char* field, const char* offField, uint64_t mult) -> char* {
            if (none) {
              r.unused(fieldAt, field, it.kind);
              r.unused(fieldAt + 1, offField, it.kind);
              return nullptr;
            }
            return bufferAt(fieldAt, fieldAt + 1, bytesOf(it.count, esz, mult, "count"), esz, *s, field, offField);
          };
          it.send = side(it.kind == CollKind::Recv, at + 6, "send", "sendOffset", it.kind == CollKind::ReduceScatter ? size : 1);
          it.recv = side(it.kind == CollKind::Send, at + 8, "recv", "recvOffset", it.kind == CollKind::AllGather ? size : 1);
          if (it.kind == CollKind::Send || it.kind == CollKind::Recv) {
            uint64_t peer = r.integer(at + 10, "peer");
            if (peer >= size) {
              r.range("peer " + std::to_string(peer) + " is not below the comm size " + std::to_string(size));
            }
            it.peer = static_cast<int>(peer);
          } else {
            r.unused(at + 10, "peer", it.kind);
          }
          p.items.push_back(it);
          out.itemStreams.push_back(s->index);
        }
        r.item = -1;
        if (core_->kind == BackendKind::Cuda) {
          Status sides = cuda::checkSides(p.items.data() + op.first, op.n);
          if (!sides.ok()) r.range(sides.error);
        }
        pos += 2 + kItemWidth * n;
        break;
      }
    }
    p.ops.push_back(op);
  }
}

}  // namespace fr
