#include "actors/nats_connect.h"

#include <nats/nats.h>

#include <filesystem>

namespace coach::actors {

void NatsConfig::use_tls_dir(const std::string& dir) {
  ca_file = dir + "/ca.pem";
  cert_file = dir + "/client.pem";
  key_file = dir + "/client.key";
}

Result<natsConnection*> connect_nats(const NatsConfig& config) {
  auto fail = [&](natsStatus s, const std::string& what) {
    return make_error(
        Errc::unavailable,
        what + " (" + config.url + "): " + natsStatus_GetText(s) +
            (nats_GetLastError(nullptr) ? std::string(" - ") + nats_GetLastError(nullptr) : ""));
  };
  natsOptions* options = nullptr;
  if (auto s = natsOptions_Create(&options); s != NATS_OK) return fail(s, "cannot create options");
  std::unique_ptr<natsOptions, void (*)(natsOptions*)> guard(options, natsOptions_Destroy);
  natsOptions_SetURL(options, config.url.c_str());
  natsOptions_SetName(options, config.name.c_str());
  natsOptions_SetTimeout(options, config.timeout_ms);
  // Write at once: nats.c's flusher thread otherwise batches writes and adds
  // about a millisecond to every round trip.
  natsOptions_SetSendAsap(options, true);
  if (config.reconnect_forever) {
    natsOptions_SetMaxReconnect(options, -1);
    natsOptions_SetReconnectWait(options, 250);
  }
  if (!config.plaintext) {
    for (const auto* file : {&config.ca_file, &config.cert_file, &config.key_file})
      if (file->empty() || !std::filesystem::exists(*file))
        return make_error(Errc::unavailable,
                          "TLS file " + (file->empty() ? std::string("(not set)") : *file) +
                              " is missing; scripts/make-certs.sh makes them, or choose "
                              "--plaintext on purpose");
    natsStatus s = natsOptions_SetSecure(options, true);
    if (s == NATS_OK) s = natsOptions_LoadCATrustedCertificates(options, config.ca_file.c_str());
    if (s == NATS_OK)
      s = natsOptions_LoadCertificatesChain(options, config.cert_file.c_str(),
                                            config.key_file.c_str());
    if (s != NATS_OK) return fail(s, "cannot set up TLS");
  }
  natsConnection* connection = nullptr;
  if (auto s = natsConnection_Connect(&connection, options); s != NATS_OK)
    return fail(s, "cannot connect to NATS");
  return connection;
}

}  // namespace coach::actors
