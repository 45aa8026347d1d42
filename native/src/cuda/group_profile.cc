#include "group_profile.h"

#include <array>
#include <cstdio>
#include <cstdlib>
#include <cstring>

namespace fr::cuda::profile {

namespace {

// Upper bounds of the histogram's buckets, in microseconds; the last bucket holds everything longer.
constexpr std::array<uint64_t, 8> kBoundsUs = {5, 10, 20, 50, 100, 200, 500, 1000};

// Written by the issuer only, read once at exit (after the issuer stopped, or printing a near snapshot).
struct Totals {
  uint64_t groups = 0, inProgress = 0, endNs = 0, settledNs = 0, maxEndNs = 0, maxSettledNs = 0;
  std::array<uint64_t, kBoundsUs.size() + 1> buckets{};

  ~Totals() {
    if (groups == 0) return;
    std::fprintf(stderr,
                 "fairring-rx NCCL groups: %llu (%llu in progress); ncclGroupEnd returned after %.1f us mean, %.1f "
                 "max; settled after %.1f us mean, %.1f max; settled within",
                 static_cast<unsigned long long>(groups), static_cast<unsigned long long>(inProgress),
                 endNs / 1e3 / groups, maxEndNs / 1e3, settledNs / 1e3 / groups, maxSettledNs / 1e3);
    for (size_t i = 0; i < buckets.size(); i++) {
      if (i < kBoundsUs.size()) {
        std::fprintf(stderr, " %llu us: %llu,", static_cast<unsigned long long>(kBoundsUs[i]),
                     static_cast<unsigned long long>(buckets[i]));
      } else {
        std::fprintf(stderr, " longer: %llu\n", static_cast<unsigned long long>(buckets[i]));
      }
    }
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

void group(uint64_t endNs, uint64_t settledNs, bool inProgress) {
  Totals& t = g_totals;
  t.groups++;
  t.inProgress += inProgress ? 1 : 0;
  t.endNs += endNs;
  t.settledNs += settledNs;
  if (endNs > t.maxEndNs) t.maxEndNs = endNs;
  if (settledNs > t.maxSettledNs) t.maxSettledNs = settledNs;
  size_t b = 0;
  while (b < kBoundsUs.size() && settledNs > kBoundsUs[b] * 1000) b++;
  t.buckets[b]++;
}

}  // namespace fr::cuda::profile
