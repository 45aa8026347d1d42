// Brings completions to JS: a native thread watches pending (event, record) pairs and resolves their promises
// through a ThreadSafeFunction, which is referenced only while promises are pending so an idle watcher never
// keeps the process alive; the same thread harvests the records of open queues (queue.h), one report per
// queue and pass.
#pragma once

#include <napi.h>

#include <memory>

#include "runtime.h"

namespace fr {

class Watcher {
 public:
  static void Start(Napi::Env env);
  static void Stop();
  // Resolves deferred when record number `target` of the event completes, rejects it if that record failed.
  static void Watch(Napi::Env env, std::shared_ptr<EventImpl> event, uint64_t target, Napi::Promise::Deferred deferred);
};

// Whether record `target` of the event has completed; sets *error when it failed. Never blocks.
bool eventDone(EventImpl& e, uint64_t target, std::string* error);

}  // namespace fr
