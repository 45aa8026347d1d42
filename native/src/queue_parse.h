// What the Queue's program checker (queue_parse.cc) hands to its submit, replay and plan.
#pragma once

#include <cstdint>
#include <utility>
#include <vector>

#include "handles.h"
#include "queue.h"

namespace fr {

// The program, its group items' streams, the timing starts it opens and closes.
struct Queue::Parsed {
  Program program;
  std::vector<uint32_t> itemStreams;  // stream index of each group item
  std::vector<std::pair<uint32_t, uint64_t>> startsAdded, startsPaired;

  // Empty again for the next program, keeping the memory (the Queue reuses one Parsed for every submit).
  void clear() {
    program.ops.clear();
    program.srcs.clear();
    program.items.clear();
    itemStreams.clear();
    startsAdded.clear();
    startsPaired.clear();
  }
};

}  // namespace fr
