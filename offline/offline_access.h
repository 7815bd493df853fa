// Offline access to a node's data dir for the analysts' tools (coach-replay,
// coach-import): checks the caller's bearer token (analyst or admin, signed
// with the node's token key) and opens the event store with the master key.
// The master key is what decrypts the data; the token says who asked, with
// which role, and is refused when expired or of a plain user.
#pragma once

#include <memory>
#include <string>

#include "events/event_store.h"
#include "wire/auth.h"

namespace coach::actors {

struct OfflineAccess {
  std::string data_dir;         // coachd's --data-dir; the store is <data_dir>/events
  std::string master_key_file;  // default: master.key beside the data dir
  std::string token_key_file;   // default: token.key beside the data dir
  std::string token;            // an analyst's or admin's bearer token
  bool read_only = true;
};

struct OpenedStore {
  Claims caller;
  std::unique_ptr<events::EventStore> store;
};

// A file beside the data dir (where coachd keeps master.key, token.key and
// tls/ unless told otherwise).
std::string beside_data_dir(const std::string& data_dir, const char* name);

// Makes a node's data dir for use without coachd (an import before any
// coachd ran, an analyst's own copy): the directory, an empty event store,
// and the master key and token key beside it (mode 0600; default paths as
// OpenedStore's). The token key is kept when it exists (tokens it signed
// stay valid); conflict when a store is there already: nothing changes.
Status init_data_dir(OfflineAccess paths);

// unauthenticated / permission_denied for a bad or plain-user token,
// not_found for a missing data dir or key, io_error when RocksDB refuses
// (e.g. coachd holds the store open for writing).
Result<OpenedStore> open_for_analysis(OfflineAccess access);

}  // namespace coach::actors
