// The CPU executor: one thread runs the steps of every CPU stream of the process. Each stream is a FIFO; the
// executor runs a stream's head steps until one reports that it waits (for a record of another stream, for a
// peer rank of an in-process communicator) or the stream's turn is over, goes on with the other streams, and
// comes back once something has moved. An in-process collective completes when its last rank arrives, so no
// thread is woken per rank or per stream: JS wakes the executor at most once per submit, and only when it sleeps.
#pragma once

#include <memory>
#include <utility>
#include <vector>

#include "runtime.h"

namespace fr::executor {

// A step for a stream's FIFO.
struct Posting {
  std::shared_ptr<StreamImpl> stream;
  Step step;
};

// Appends step to the stream's FIFO. Starts the thread on first use.
void post(const std::shared_ptr<StreamImpl>& s, Step step);

// Appends each step to its stream's FIFO, in order, with one lock and at most one wake-up (a submit's parts).
// The steps go to the executor thread as they are (the vector's storage may be swapped for an empty one), and
// that thread appends them to their streams: the caller writes no stream's state. Returns false, posting
// nothing, once the executor has stopped (environment shutdown); throws, posting nothing, when out of memory.
bool postAll(std::vector<Posting>& steps);

// Something a waiting step looks at changed off the executor thread (a communicator aborted): look again now.
void kick();

// On the executor thread: whether it is looking at the waiting steps once more after a pass in which nothing
// moved. A wait past its deadline then is a real timeout, not time the executor spent on other streams' work;
// waits check their deadline only then (or once a second timeout has passed, whatever the executor does).
bool quiet();

// Environment shutdown: stops the thread after its current step and drops the steps not yet run.
void shutdown();

}  // namespace fr::executor
