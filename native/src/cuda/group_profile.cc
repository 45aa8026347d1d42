#include "group_profile.h"

#include <array>
#include <cstdio>
#include <cstdlib>
#include <cstring>

namespace fr::cuda::profile {

namespace {

// Settle times in whole microseconds up to this bound; longer ones share the last bucket.
constexpr size_t kMaxUs = 4000;

// Written by the issuer only; printed at exit, when the issuer no longer runs groups.
struct Totals {
  uint64_t groups = 0, inProgress = 0, endNs = 0, maxEndNs = 0, maxSettledNs = 0, items = 0;
  uint64_t batches = 0, programs = 0, maxPrograms = 0;
  std::array<uint64_t, kMaxUs + 1> settledUs{};

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

  ~Totals() {
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

Totals g_totals;

}  // namespace

bool enabled() {
  static const bool on = [] {
    const char* v = std::getenv("FAIRRING_NCCL_PROFILE");
    return v != nullptr && std::strcmp(v, "1") == 0;
  }();
  return on;
}

void group(uint64_t endNs, uint64_t settledNs, bool inProgress, size_t items) {
  Totals& t = g_totals;
  t.groups++;
  t.items += items;
  t.inProgress += inProgress ? 1 : 0;
  t.endNs += endNs;
  if (endNs > t.maxEndNs) t.maxEndNs = endNs;
  if (settledNs > t.maxSettledNs) t.maxSettledNs = settledNs;
  uint64_t us = settledNs / 1000;
  t.settledUs[us < kMaxUs ? us : kMaxUs]++;
}

void batch(size_t programs) {
  Totals& t = g_totals;
  t.batches++;
  t.programs += programs;
  if (programs > t.maxPrograms) t.maxPrograms = programs;
}

}  // namespace fr::cuda::profile
