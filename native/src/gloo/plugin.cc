// The Gloo plugin (see plugin_api.h): a full mesh of TCP pairs from gloo::rendezvous::Context, and transfers
// through Gloo's unbound buffers.
#include "plugin_api.h"

#include <gloo/rendezvous/context.h>
#include <gloo/rendezvous/store.h>
#include <gloo/transport/tcp/device.h>
#include <gloo/transport/unbound_buffer.h>

#include <algorithm>
#include <chrono>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <mutex>
#include <stdexcept>
#include <string>
#include <vector>

namespace {

void copyError(const std::string& message, char* err, size_t errlen) {
  if (errlen == 0) return;
  size_t n = std::min(message.size(), errlen - 1);
  std::memcpy(err, message.data(), n);
  err[n] = '\0';
}

// Gloo's store interface over the addon's callbacks, with every key under the communicator's prefix.
class BridgeStore final : public gloo::rendezvous::Store {
 public:
  BridgeStore(const FrgStore* store, std::string prefix, int64_t timeoutMs)
      : store_(store), prefix_(std::move(prefix)), timeoutMs_(timeoutMs) {}

  void set(const std::string& key, const std::vector<char>& data) override {
    char err[512] = {};
    if (store_->set(store_->user, (prefix_ + key).c_str(), data.data(), data.size(), err, sizeof err) != 0) {
      throw std::runtime_error(std::string("store set of ") + key + ": " + err);
    }
  }

  std::vector<char> get(const std::string& key) override {
    char err[512] = {};
    char* data = nullptr;
    size_t bytes = 0;
    if (store_->get(store_->user, (prefix_ + key).c_str(), timeoutMs_, &data, &bytes, err, sizeof err) != 0) {
      throw std::runtime_error(std::string("store get of ") + key + ": " + err);
    }
    std::vector<char> out(data, data + bytes);
    std::free(data);
    return out;
  }

  void wait(const std::vector<std::string>& keys) override {
    for (const auto& k : keys) get(k);
  }

  void wait(const std::vector<std::string>& keys, const std::chrono::milliseconds&) override { wait(keys); }

 private:
  const FrgStore* store_;
  std::string prefix_;
  int64_t timeoutMs_;
};

struct Context {
  std::shared_ptr<gloo::rendezvous::Context> gloo;
  std::mutex m;
  bool aborted = false;
  std::vector<gloo::transport::UnboundBuffer*> active;
};

}  // namespace

extern "C" {

__attribute__((visibility("default"))) int frg_abi(void) { return FAIRRING_GLOO_ABI; }

__attribute__((visibility("default"))) void* frg_connect(int rank, int size, const char* host, const char* prefix,
                                                         const FrgStore* store, int64_t timeoutMs, char* err,
                                                         size_t errlen) {
  try {
    gloo::transport::tcp::attr attr;
    attr.hostname = host;
    auto device = gloo::transport::tcp::CreateDevice(attr);
    auto context = std::make_shared<gloo::rendezvous::Context>(rank, size);
    context->setTimeout(std::chrono::milliseconds(timeoutMs));
    BridgeStore bridge(store, prefix, timeoutMs);
    context->connectFullMesh(bridge, device);
    auto* c = new Context();
    c->gloo = std::move(context);
    return c;
  } catch (const std::exception& e) {
    copyError(e.what(), err, errlen);
    return nullptr;
  }
}

__attribute__((visibility("default"))) int frg_run(void* ctx, const FrgOp* ops, size_t n, int64_t timeoutMs, char* err,
                                                   size_t errlen) {
  auto* c = static_cast<Context*>(ctx);
  std::vector<std::unique_ptr<gloo::transport::UnboundBuffer>> buffers;
  buffers.reserve(n);
  auto forget = [&] {
    std::lock_guard<std::mutex> lock(c->m);
    for (auto& b : buffers) c->active.erase(std::remove(c->active.begin(), c->active.end(), b.get()), c->active.end());
  };
  try {
    {
      std::lock_guard<std::mutex> lock(c->m);
      if (c->aborted) {
        copyError("communicator aborted", err, errlen);
        return 1;
      }
      for (size_t i = 0; i < n; i++) {
        auto b = c->gloo->createUnboundBuffer(ops[i].ptr, ops[i].bytes);
        if (ops[i].recv) {
          b->recv(ops[i].peer, ops[i].slot);
        } else {
          b->send(ops[i].peer, ops[i].slot);
        }
        c->active.push_back(b.get());
        buffers.push_back(std::move(b));
      }
    }
    auto timeout = std::chrono::milliseconds(timeoutMs);
    for (size_t i = 0; i < n; i++) {
      bool done = ops[i].recv ? buffers[i]->waitRecv(timeout) : buffers[i]->waitSend(timeout);
      if (!done) {
        forget();
        copyError("communicator aborted", err, errlen);
        return 1;
      }
    }
  } catch (const std::exception& e) {
    forget();
    copyError(e.what(), err, errlen);
    return 1;
  }
  forget();
  return 0;
}

__attribute__((visibility("default"))) void frg_abort(void* ctx) {
  auto* c = static_cast<Context*>(ctx);
  std::lock_guard<std::mutex> lock(c->m);
  c->aborted = true;
  for (auto* b : c->active) {
    b->abortWaitRecv();
    b->abortWaitSend();
  }
}

__attribute__((visibility("default"))) void frg_close(void* ctx) {
  auto* c = static_cast<Context*>(ctx);
  try {
    c->gloo->closeConnections();
  } catch (const std::exception&) {
    // Peers may be gone already; the pairs are freed either way.
  }
  delete c;
}
}
