// Communicators across processes for the CPU backend, over Gloo's TCP transport through the optional plugin
// (gloo/plugin_api.h). A rank's part of a group runs on a thread of its own while its executor step waits: point-to-point items as Gloo
// transfers, collectives as transfers plus a local reduction in rank order, so results match the in-process
// communicators bit for bit.
#pragma once

#include <memory>
#include <string>

#include "../gloo/plugin_api.h"
#include "../runtime.h"

namespace fr::cpu {

// Loads the plugin once; an empty string when it is there, else why not (with how to get it).
std::string glooAvailable();

// Joins rank `rank` of a communicator of nranks processes, through the store; runs off the JS thread.
std::shared_ptr<CommImpl> initGlooComm(const std::string& id, int nranks, int rank, std::shared_ptr<DeviceImpl> device,
                                       int timeoutMs, const std::string& host, const FrgStore& store,
                                       std::string* error);

// The comm of a group's items, if it is a Gloo communicator.
bool isGlooComm(const CommImpl* comm);

// Runs one rank's part of a group on Gloo communicators (the items one stream enqueued).
Status runGlooGroup(const CollItem* items, size_t n);

}  // namespace fr::cpu
