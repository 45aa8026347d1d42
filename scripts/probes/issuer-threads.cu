// Probe (GPU machine, 2 GPUs): what the host's issuing costs at 2 x 1 in one process, by who issues. The three
// stages of Fairring at one device per machine (collect: a send and a receive per rank; add: a kernel; diffuse:
// a send and a receive) on three streams per rank chained by events, every slice staged in a slot of its own,
// float32, no host waits, in one process:
//   one: one thread issues both ranks' work, each stage's sends and receives in one NCCL group over both
//        communicators (as the engine's CUDA issuer does);
//   two: a thread per rank issues its own rank's work, each group over its own communicator (as fr.cu's
//        processes do, in one process);
//   one-polled: as one, while another thread queries the latest record of each rank's add stream every 20 µs
//        (as the addon's watcher polls pending records while a loop runs).
// Prints µs per slice (best and mean of the timed repetitions), busbw, the issuing threads' own time per slice,
// and whether the last element of every fourth bucket holds the sum. The engine's session 16 figures at 2 x 1:
// 25 MiB buckets ~110 µs per slice in one process against fr.cu's ~101; 64 KiB ~50-60 against ~22.
// Build: nvcc -O2 -arch=sm_90 -o /tmp/issuer-threads scripts/probes/issuer-threads.cu -lnccl -lpthread
// Usage: NCCL_NVLS_ENABLE=0 /tmp/issuer-threads one|two|one-polled <bytes per bucket> <buckets> [reps]
#include <cuda_runtime.h>
#include <nccl.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <atomic>
#include <ctime>
#include <string>
#include <thread>
#include <vector>

#define CK(x)                                                                             \
  do {                                                                                    \
    cudaError_t e_ = (x);                                                                 \
    if (e_ != cudaSuccess) {                                                              \
      std::fprintf(stderr, "CUDA %s at line %d\n", cudaGetErrorString(e_), __LINE__);     \
      std::exit(1);                                                                       \
    }                                                                                     \
  } while (0)
#define NK(x)                                                                             \
  do {                                                                                    \
    ncclResult_t n_ = (x);                                                                \
    if (n_ != ncclSuccess) {                                                              \
      std::fprintf(stderr, "NCCL %s at line %d\n", ncclGetErrorString(n_), __LINE__);     \
      std::exit(1);                                                                       \
    }                                                                                     \
  } while (0)

namespace {

constexpr int kRanks = 2;

__global__ void fill(float* p, size_t n, float v) {
  for (size_t i = blockIdx.x * static_cast<size_t>(blockDim.x) + threadIdx.x; i < n; i += static_cast<size_t>(gridDim.x) * blockDim.x) p[i] = v;
}

__global__ void add(const float* __restrict__ in, float* __restrict__ out, size_t n) {
  for (size_t i = blockIdx.x * static_cast<size_t>(blockDim.x) + threadIdx.x; i < n; i += static_cast<size_t>(gridDim.x) * blockDim.x) out[i] += in[i];
}

struct Rank {
  int device = 0;
  ncclComm_t collect = nullptr, diffuse = nullptr;
  cudaStream_t s[3] = {};
  std::vector<float*> buckets;
  float* staging = nullptr;  // a chunk per bucket
  std::vector<cudaEvent_t> events;  // two per bucket: collected, added
};

double threadCpuMs() {
  timespec t{};
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &t);
  return t.tv_sec * 1e3 + t.tv_nsec / 1e6;
}

// Rank r's part of bucket b: its own chunk is half r of the bucket; it sends the other half to its peer.
void collect(Rank& k, int r, int b, size_t chunk) {
  float* x = k.buckets[b];
  NK(ncclSend(x + (1 - r) * chunk, chunk, ncclFloat, 1 - r, k.collect, k.s[0]));
  NK(ncclRecv(k.staging + b * chunk, chunk, ncclFloat, 1 - r, k.collect, k.s[0]));
}

void diffuse(Rank& k, int r, int b, size_t chunk) {
  float* x = k.buckets[b];
  NK(ncclSend(x + r * chunk, chunk, ncclFloat, 1 - r, k.diffuse, k.s[2]));
  NK(ncclRecv(x + (1 - r) * chunk, chunk, ncclFloat, 1 - r, k.diffuse, k.s[2]));
}

void afterCollect(Rank& k, int r, int b, size_t chunk) {
  cudaEvent_t* e = &k.events[2 * b];
  CK(cudaEventRecord(e[0], k.s[0]));
  CK(cudaStreamWaitEvent(k.s[1], e[0], 0));
  add<<<264, 512, 0, k.s[1]>>>(k.staging + b * chunk, k.buckets[b] + r * chunk, chunk);
  CK(cudaEventRecord(e[1], k.s[1]));
  CK(cudaStreamWaitEvent(k.s[2], e[1], 0));
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 4) {
    std::fprintf(stderr, "usage: %s one|two|one-polled <bytes per bucket> <buckets> [reps]\n", argv[0]);
    return 2;
  }
  const std::string mode = argv[1];
  const size_t bytes = std::strtoull(argv[2], nullptr, 10);
  const int B = std::atoi(argv[3]);
  const int reps = argc > 4 ? std::atoi(argv[4]) : 5;
  const size_t n = bytes / 4, chunk = n / kRanks;
  if (n % (kRanks * 4) != 0 || (mode != "one" && mode != "two" && mode != "one-polled")) {
    std::fprintf(stderr, "mode one|two|one-polled, bytes a multiple of %d\n", kRanks * 16);
    return 2;
  }
  int devices[kRanks] = {0, 1};
  ncclComm_t collectComms[kRanks], diffuseComms[kRanks];
  NK(ncclCommInitAll(collectComms, kRanks, devices));
  NK(ncclCommInitAll(diffuseComms, kRanks, devices));
  std::vector<Rank> ranks(kRanks);
  for (int r = 0; r < kRanks; r++) {
    Rank& k = ranks[r];
    k.device = devices[r];
    k.collect = collectComms[r];
    k.diffuse = diffuseComms[r];
    CK(cudaSetDevice(k.device));
    for (auto& s : k.s) CK(cudaStreamCreateWithFlags(&s, cudaStreamNonBlocking));
    k.buckets.resize(B);
    for (auto& p : k.buckets) CK(cudaMalloc(&p, bytes));
    CK(cudaMalloc(&k.staging, static_cast<size_t>(B) * chunk * 4));
    k.events.resize(2 * B);
    for (auto& e : k.events) CK(cudaEventCreateWithFlags(&e, cudaEventDisableTiming));
  }
  double best = 1e30, sum = 0, issueMs = 0;
  bool ok = true;
  for (int rep = 0; rep < reps + 2; rep++) {
    for (int r = 0; r < kRanks; r++) {
      CK(cudaSetDevice(ranks[r].device));
      for (int b = 0; b < B; b++) fill<<<512, 256, 0, ranks[r].s[0]>>>(ranks[r].buckets[b], n, static_cast<float>(r + 1 + b));
      CK(cudaDeviceSynchronize());
    }
    std::vector<double> cpu(kRanks, 0);
    const auto t0 = std::chrono::steady_clock::now();
    std::atomic<int> latest{-1};
    std::atomic<bool> polling{mode == "one-polled"};
    std::thread poller;
    if (polling.load()) {
      poller = std::thread([&] {
        while (polling.load()) {
          int b = latest.load();
          for (int r = 0; b >= 0 && r < kRanks; r++) {
            CK(cudaSetDevice(ranks[r].device));
            cudaError_t e = cudaEventQuery(ranks[r].events[2 * b + 1]);
            if (e != cudaSuccess && e != cudaErrorNotReady) CK(e);
          }
          std::this_thread::sleep_for(std::chrono::microseconds(20));
        }
      });
    }
    if (mode != "two") {
      const double c0 = threadCpuMs();
      for (int b = 0; b < B; b++) {
        NK(ncclGroupStart());
        for (int r = 0; r < kRanks; r++) collect(ranks[r], r, b, chunk);
        NK(ncclGroupEnd());
        for (int r = 0; r < kRanks; r++) {
          CK(cudaSetDevice(ranks[r].device));
          afterCollect(ranks[r], r, b, chunk);
        }
        NK(ncclGroupStart());
        for (int r = 0; r < kRanks; r++) diffuse(ranks[r], r, b, chunk);
        NK(ncclGroupEnd());
        latest.store(b);
      }
      cpu[0] = threadCpuMs() - c0;
    } else {
      std::vector<std::thread> threads;
      for (int r = 0; r < kRanks; r++) {
        threads.emplace_back([&, r] {
          Rank& k = ranks[r];
          CK(cudaSetDevice(k.device));
          const double c0 = threadCpuMs();
          for (int b = 0; b < B; b++) {
            NK(ncclGroupStart());
            collect(k, r, b, chunk);
            NK(ncclGroupEnd());
            afterCollect(k, r, b, chunk);
            NK(ncclGroupStart());
            diffuse(k, r, b, chunk);
            NK(ncclGroupEnd());
          }
          cpu[r] = threadCpuMs() - c0;
        });
      }
      for (auto& t : threads) t.join();
    }
    polling.store(false);
    if (poller.joinable()) poller.join();
    for (Rank& k : ranks) {
      CK(cudaSetDevice(k.device));
      for (auto& s : k.s) CK(cudaStreamSynchronize(s));
    }
    const double t = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    if (rep >= 2) {
      best = std::min(best, t);
      sum += t;
      issueMs += *std::max_element(cpu.begin(), cpu.end());
    }
    for (int r = 0; r < kRanks; r++) {
      CK(cudaSetDevice(ranks[r].device));
      for (int b = 0; b < B; b += std::max(1, B / 4)) {
        float h = 0;
        CK(cudaMemcpy(&h, ranks[r].buckets[b] + n - 1, 4, cudaMemcpyDeviceToHost));
        if (h != static_cast<float>(3 + 2 * b)) ok = false;
      }
    }
  }
  const double busbw = static_cast<double>(bytes) * B / best / 1e9 * 2.0 * (kRanks - 1) / kRanks;
  std::printf("%s: %zu B x %d buckets: best %.1f us per slice, mean %.1f, busbw %.2f GB/s, busiest issuing thread %.1f us CPU per slice, check %s\n",
              mode.c_str(), bytes, B, best * 1e6 / B, sum / reps * 1e6 / B, busbw, issueMs / reps * 1e3 / B, ok ? "ok" : "BAD");
  for (int r = 0; r < kRanks; r++) {
    ncclCommDestroy(collectComms[r]);
    ncclCommDestroy(diffuseComms[r]);
  }
  return ok ? 0 : 1;
}
