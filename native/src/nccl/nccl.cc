#include "nccl.h"

#include <dlfcn.h>

#include <cstdlib>
#include <mutex>

namespace fr::nccl {

namespace {

std::string describeWith(const Api& a, ncclResult_t result, ncclComm_t comm) {
  std::string text = a.ncclGetErrorString(result);
  const char* detail = a.ncclGetLastError(comm);
  if (detail != nullptr && detail[0] != '\0') text += std::string(" (") + detail + ")";
  return text;
}

template <class Fn>
bool resolve(void* handle, const char* name, Fn* out, Library* lib) {
  void* sym = dlsym(handle, name);
  if (sym == nullptr) {
    lib->error = lib->path + " is not NCCL 2.14 or newer: it has no " + name;
    return false;
  }
  *out = reinterpret_cast<Fn>(sym);
  return true;
}

// An entry point that only some features need: absent, it stays null.
template <class Fn>
void resolveOptional(void* handle, const char* name, Fn* out) {
  *out = reinterpret_cast<Fn>(dlsym(handle, name));
}

void load(Library* lib) {
  const char* fromEnv = std::getenv("FAIRRING_NCCL_LIBRARY");
  lib->path = fromEnv != nullptr && fromEnv[0] != '\0' ? fromEnv : "libnccl.so.2";
  // RTLD_LOCAL keeps NCCL's symbols (and the CUDA runtime it embeds) from interposing on the addon's own.
  void* handle = dlopen(lib->path.c_str(), RTLD_NOW | RTLD_LOCAL);
  if (handle == nullptr) {
    const char* why = dlerror();
    lib->error = "dlopen(" + lib->path + ") failed: " + (why != nullptr ? why : "unknown error");
    return;
  }
  Api& a = lib->api;
  bool ok = resolve(handle, "ncclGetVersion", &a.ncclGetVersion, lib) &&
            resolve(handle, "ncclGetUniqueId", &a.ncclGetUniqueId, lib) &&
            resolve(handle, "ncclCommInitRankConfig", &a.ncclCommInitRankConfig, lib) &&
            resolve(handle, "ncclCommFinalize", &a.ncclCommFinalize, lib) &&
            resolve(handle, "ncclCommDestroy", &a.ncclCommDestroy, lib) &&
            resolve(handle, "ncclCommAbort", &a.ncclCommAbort, lib) &&
            resolve(handle, "ncclCommGetAsyncError", &a.ncclCommGetAsyncError, lib) &&
            resolve(handle, "ncclGetErrorString", &a.ncclGetErrorString, lib) &&
            resolve(handle, "ncclGetLastError", &a.ncclGetLastError, lib) &&
            resolve(handle, "ncclGroupStart", &a.ncclGroupStart, lib) &&
            resolve(handle, "ncclGroupEnd", &a.ncclGroupEnd, lib) &&
            resolve(handle, "ncclAllReduce", &a.ncclAllReduce, lib) &&
            resolve(handle, "ncclReduceScatter", &a.ncclReduceScatter, lib) &&
            resolve(handle, "ncclAllGather", &a.ncclAllGather, lib) &&
            resolve(handle, "ncclSend", &a.ncclSend, lib) && resolve(handle, "ncclRecv", &a.ncclRecv, lib);
  if (!ok) {
    lib->api = Api{};
    dlclose(handle);
    return;
  }
  ncclResult_t r = a.ncclGetVersion(&lib->version);
  if (r != ncclSuccess) {
    lib->error = "ncclGetVersion failed: " + describeWith(a, r, nullptr);
    lib->api = Api{};
    dlclose(handle);
    return;
  }
  resolveOptional(handle, "ncclRedOpCreatePreMulSum", &a.ncclRedOpCreatePreMulSum);
  resolveOptional(handle, "ncclRedOpDestroy", &a.ncclRedOpDestroy);
  Dl_info info;
  if (dladdr(reinterpret_cast<void*>(a.ncclGetVersion), &info) != 0 && info.dli_fname != nullptr) {
    lib->path = info.dli_fname;
  }
  if (a.ncclRedOpCreatePreMulSum == nullptr || a.ncclRedOpDestroy == nullptr) {
    lib->preMulSumError = lib->path + " has no ncclRedOpCreatePreMulSum / ncclRedOpDestroy (NCCL 2.11 or newer)";
  }
  // The handle is never closed: communicators and NCCL's own threads live until process exit.
  lib->loaded = true;
}

}  // namespace

// Never destroyed: the issuer and the aborter may still read it while the process exits.
const Library& library() {
  static Library& lib = *new Library();
  static std::once_flag once;
  std::call_once(once, [] { load(&lib); });
  return lib;
}

std::string describe(ncclResult_t result, ncclComm_t comm) { return describeWith(library().api, result, comm); }

}  // namespace fr::nccl
