#include "wire/nats_connect.h"

#include <nats/nats.h>

#include <atomic>
#include <chrono>
#include <filesystem>
#include <thread>
#include <vector>

#include "base/private_file.h"
#include "wire/bus_identity.h"
#include "wire/log.h"

namespace coach::actors {

void NatsConfig::use_tls_dir(const std::string& dir) {
  ca_file = dir + "/ca.pem";
  cert_file = dir + "/client.pem";
  key_file = dir + "/client.key";
}

namespace {

// Presents the credentials and takes the inbox prefix they allow.
Status use_credentials(natsOptions* options, const std::string& path) {
  auto text = coach::read_owner_only(path, "NATS credentials file");
  if (!text && text.error().code == Errc::not_found)
    return make_error(Errc::unavailable,
                      text.error().message + " (coachctl admin bus-creds makes one)");
  if (!text) return text.error();
  auto public_key = credentials_public_key(*text);
  if (!public_key)
    return make_error(Errc::invalid_argument, path + ": " + public_key.error().message);
  natsStatus s = natsOptions_SetUserCredentialsFromFiles(options, path.c_str(), nullptr);
  if (s == NATS_OK)
    s = natsOptions_SetCustomInboxPrefix(options, inbox_prefix_of(*public_key).c_str());
  if (s != NATS_OK)
    return make_error(Errc::invalid_argument,
                      "cannot use NATS credentials " + path + ": " + natsStatus_GetText(s));
  return Ok{};
}

// nats.c's asynchronous errors, above all a slow consumer: a subscription
// whose pending limit was reached drops the messages the server sends until
// its handler catches up. Logged at most once a second (a flood would
// otherwise flood the log too); the gateway counts the drops themselves.
void on_async_error(natsConnection*, natsSubscription* subscription, natsStatus error, void*) {
  // At most one line a second of each kind: other asynchronous errors do
  // not hide a slow consumer, and a flood of drops does not flood the log.
  static std::atomic<int64_t> last_slow_ms{0}, last_other_ms{0};
  auto& last_logged_ms = error == NATS_SLOW_CONSUMER ? last_slow_ms : last_other_ms;
  auto now_ms = std::chrono::duration_cast<std::chrono::milliseconds>(
                    std::chrono::steady_clock::now().time_since_epoch())
                    .count();
  auto last = last_logged_ms.load(std::memory_order_relaxed);
  if (now_ms - last < 1000 || !last_logged_ms.compare_exchange_strong(last, now_ms)) return;
  int64_t dropped = 0;
  if (subscription) natsSubscription_GetDropped(subscription, &dropped);
  const char* subject = subscription ? natsSubscription_GetSubject(subscription) : nullptr;
  log_line(LogLevel::warn, "nats",
           error == NATS_SLOW_CONSUMER ? "slow consumer: NATS messages dropped"
                                       : "asynchronous NATS error",
           {{"error", natsStatus_GetText(error)},
            {"subject", subject ? subject : ""},
            {"dropped", std::to_string(dropped)}});
}

}  // namespace

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
  // A cluster's servers as a comma-separated list, given to SetServers
  // (which reconnects to another on failure).
  std::vector<std::string> urls;
  for (size_t at = 0; at <= config.url.size();) {
    size_t end = std::min(config.url.find(',', at), config.url.size());
    if (end > at) urls.push_back(config.url.substr(at, end - at));
    at = end + 1;
  }
  std::vector<const char*> servers;
  for (const auto& url : urls) servers.push_back(url.c_str());
  if (servers.size() > 1)
    natsOptions_SetServers(options, servers.data(), static_cast<int>(servers.size()));
  else
    natsOptions_SetURL(options, config.url.c_str());
  natsOptions_SetName(options, config.name.c_str());
  natsOptions_SetTimeout(options, config.timeout_ms);
  // Write at once: nats.c's flusher thread otherwise batches writes and adds
  // about a millisecond to every round trip.
  natsOptions_SetSendAsap(options, true);
  natsOptions_SetErrorHandler(options, on_async_error, nullptr);
  if (config.reconnect_forever) {
    natsOptions_SetMaxReconnect(options, -1);
    natsOptions_SetReconnectWait(options, 250);
  }
  if (config.reconnect_buffer_bytes > 0)
    natsOptions_SetReconnectBufSize(options, config.reconnect_buffer_bytes);
  if (config.shared_delivery) natsOptions_UseGlobalMessageDelivery(options, true);
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
  if (!config.creds_file.empty())
    if (auto used = use_credentials(options, config.creds_file); !used) return used.error();
  natsConnection* connection = nullptr;
  natsStatus s = natsConnection_Connect(&connection, options);
  // nats.c 3.4 (Debian's) sends no signature when the signature of the
  // server's nonce starts with a zero byte (nats-io/nats.c#705, fixed in
  // 3.8): one connect in 256 is refused. Each attempt signs a new nonce.
  for (int retry = 0; retry < 4 && s == NATS_CONNECTION_AUTH_FAILED && !config.creds_file.empty();
       ++retry)
    s = natsConnection_Connect(&connection, options);
  if (s != NATS_OK) return fail(s, "cannot connect to NATS");
  return connection;
}

namespace {
bool cluster_settling(const std::function<int()>& js_code) {
  if (!js_code) return false;
  int code = js_code();
  return code == 10008 || code == 10049 || code == 10012;
}
}  // namespace

int retry_while_jetstream_starts(const std::function<int()>& call,
                                 const std::function<int()>& js_code,
                                 std::chrono::milliseconds bound) {
  auto until = std::chrono::steady_clock::now() + bound;
  for (;;) {
    auto s = static_cast<natsStatus>(call());
    bool again = s == NATS_TIMEOUT || (s != NATS_OK && cluster_settling(js_code));
    if (!again || std::chrono::steady_clock::now() >= until) return s;
    std::this_thread::sleep_for(std::chrono::milliseconds(200));
  }
}

}  // namespace coach::actors
