#include "group_profile.h"

#include <array>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <mutex>
#include <vector>

namespace fr::cuda::profile {

namespace {

// Settle times in whole microseconds up to this bound; longer ones share the last bucket.
constexpr size_t kMaxUs = 4000;

// Timeline entries kept for FAIRRING_NCCL_PROFILE_LOG at most (later ones are dropped and counted).
constexpr size_t kMaxEntries = 1 << 21;

struct Entry {
  Clock::time_point start;
  uint64_t ns;
  uint32_t n;
  char kind;  // 'g' group (n calls), 'b' batch (n programs)
};

const char* logPath() {
  static const char* path = [] {
    const char* v = std::getenv("FAIRRING_NCCL_PROFILE_LOG");
    return v != nullptr && *v != '\0' ? v : nullptr;
  }();
  return path;
}

// Written by the issuer; reported at exit (std::atexit), where the issuer may still run: m orders the two.
struct Totals {
  std::mutex m;
  uint64_t groups = 0, inProgress = 0, endNs = 0, maxEndNs = 0, maxSettledNs = 0, items = 0;
  uint64_t batches = 0, programs = 0, maxPrograms = 0;
  std::array<uint64_t, kMaxUs + 1> settledUs{};
  std::vector<Entry> entries;
  uint64_t dropped = 0;

  void log(Clock::time_point start, uint64_t ns, size_t n, char kind) {
    if (logPath() == nullptr) return;
    if (entries.size() >= kMaxEntries) {
      dropped++;
      return;
    }
    if (entries.empty()) entries.reserve(1 << 16);
    entries.push_back(Entry{start, ns, static_cast<uint32_t>(n), kind});
  }

  void writeLog() const {
    const char* path = logPath();
    if (path == nullptr) return;
    std::FILE* f = std::fopen(path, "w");
    if (f == nullptr) {
      std::fprintf(stderr, "fairring-rx: FAIRRING_NCCL_PROFILE_LOG: cannot write %s\n", path);
      return;
    }
    std::fprintf(f, "kind,start_us,duration_us,n\n");
    const Clock::time_point origin = entries.empty() ? Clock::time_point() : entries.front().start;
    for (const Entry& e : entries) {
      double at = std::chrono::duration<double, std::micro>(e.start - origin).count();
      std::fprintf(f, "%s,%.1f,%.1f,%u\n", e.kind == 'g' ? "group" : "batch", at, e.ns / 1e3, e.n);
    }
    if (dropped > 0) std::fprintf(f, "# %llu entries dropped\n", static_cast<unsigned long long>(dropped));
    std::fclose(f);
  }

  // The settle time that `share` of the groups took at most, in microseconds ("> kMaxUs" past the histogram).
  void percentile(double share, char* out, size_t size) const {
    uint64_t want = static_cast<uint64_t>(share * static_cast<double>(groups) + 0.5), seen = 0;
    for (size_t us = 0; us < settledUs.size(); us++) {
      seen += settledUs[us];
      if (seen >= want && want > 0) {
        if (us == kMaxUs) {
          std::snprintf(out, size, "> %zu", kMaxUs);
        } else {
          std::snprintf(out, size, "%zu", us + 1);
        }
        return;
      }
    }
    std::snprintf(out, size, "-");
  }

  void report() {
    std::lock_guard<std::mutex> lock(m);
    writeLog();
    if (groups == 0) return;
    char p50[16], p90[16], p99[16];
    percentile(0.5, p50, sizeof p50);
    percentile(0.9, p90, sizeof p90);
    percentile(0.99, p99, sizeof p99);
    std::fprintf(stderr,
                 "fairring-rx NCCL groups: %llu (%llu returned ncclInProgress), %.2f calls each; ncclGroupEnd "
                 "returned after %.1f us mean (%.1f max); settled within %s us (50%%), %s us (90%%), %s us "
                 "(99%%), %.1f max; %llu issuer batches of %.2f programs mean, %llu max\n",
                 static_cast<unsigned long long>(groups), static_cast<unsigned long long>(inProgress),
                 static_cast<double>(items) / groups, endNs / 1e3 / groups, maxEndNs / 1e3, p50, p90, p99,
                 maxSettledNs / 1e3, static_cast<unsigned long long>(batches),
                 batches ? static_cast<double>(programs) / batches : 0.0,
                 static_cast<unsigned long long>(maxPrograms));
  }
};

// Never destroyed: the issuer may still add a group while the process exits.
Totals& g_totals = *new Totals();

std::once_flag g_reported;

void reportAtExit() {
  std::call_once(g_reported, [] { g_totals.report(); });
}

}  // namespace

bool enabled() {
  static const bool on = [] {
    const char* v = std::getenv("FAIRRING_NCCL_PROFILE");
    bool wanted = (v != nullptr && std::strcmp(v, "1") == 0) || logPath() != nullptr;
    if (wanted) std::atexit(reportAtExit);
    return wanted;
  }();
  return on;
}

void reportNow() {
  if (enabled()) reportAtExit();
}

void group(Clock::time_point start, uint64_t endNs, uint64_t settledNs, bool inProgress, size_t items) {
  Totals& t = g_totals;
  std::lock_guard<std::mutex> lock(t.m);
  t.log(start, settledNs, items, 'g');
  t.groups++;
  t.items += items;
  t.inProgress += inProgress ? 1 : 0;
  t.endNs += endNs;
  if (endNs > t.maxEndNs) t.maxEndNs = endNs;
  if (settledNs > t.maxSettledNs) t.maxSettledNs = settledNs;
  uint64_t us = settledNs / 1000;
  t.settledUs[us < kMaxUs ? us : kMaxUs]++;
}

void batch(Clock::time_point start, size_t programs) {
  Totals& t = g_totals;
  std::lock_guard<std::mutex> lock(t.m);
  t.log(start, static_cast<uint64_t>(std::chrono::duration_cast<std::chrono::nanoseconds>(Clock::now() - start).count()),
        programs, 'b');
  t.batches++;
  t.programs += programs;
  if (programs > t.maxPrograms) t.maxPrograms = programs;
}

}  // namespace fr::cuda::profile
