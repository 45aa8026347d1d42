// The CPU executor: one thread runs the steps of every CPU stream of the process. Each stream is a FIFO; the
// executor runs a stream's head step until it is done or reports that it waits (for a record of another stream,
// for a peer rank of an in-process communicator), goes on with the other streams, and comes back once something
// has moved. An in-process collective completes when its last rank arrives, so no thread is woken per rank or
// per stream: JS wakes the executor at most once per submit, and only when it sleeps.
#pragma once

#include <memory>

#include "runtime.h"

namespace fr::executor {

// Appends step to the stream's FIFO. Starts the thread on first use.
void post(const std::shared_ptr<StreamImpl>& s, Step step);

// Something a waiting step looks at changed off the executor thread (a communicator aborted): look again now.
void kick();

// Environment shutdown: stops the thread after its current step and drops the steps not yet run.
void shutdown();

}  // namespace fr::executor
