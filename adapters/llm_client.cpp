#include "adapters/llm_client.h"

#include <curl/curl.h>
#include <google/protobuf/util/json_util.h>

#include <memory>
#include <mutex>

#include "schema/llm.pb.h"

namespace coach::actors {
namespace {

size_t append_body(char* data, size_t size, size_t count, void* out) {
  auto* body = static_cast<std::string*>(out);
  constexpr size_t kMaxBody = 1 << 20;  // a nudge never needs more; stop a runaway server
  if (body->size() + size * count > kMaxBody) return 0;
  body->append(data, size * count);
  return size * count;
}

std::string request_json(const LlmConfig& config, const projections::ChatPrompt& prompt) {
  llm::ChatRequest request;
  request.set_model(config.model);
  request.set_max_tokens(config.max_tokens);
  request.set_temperature(config.temperature);
  auto* system = request.add_messages();
  system->set_role("system");
  system->set_content(prompt.system);
  auto* user = request.add_messages();
  user->set_role("user");
  user->set_content(prompt.user);
  google::protobuf::util::JsonPrintOptions options;
  options.preserve_proto_field_names = true;
  std::string json;
  (void)google::protobuf::util::MessageToJsonString(request, &json, options);
  return json;
}

Result<LlmReply> parse_reply(const std::string& body) {
  llm::ChatResponse response;
  google::protobuf::util::JsonParseOptions options;
  options.ignore_unknown_fields = true;
  if (!google::protobuf::util::JsonStringToMessage(body, &response, options).ok())
    return make_error(Errc::invalid_argument, "the LLM's answer is not chat completions JSON");
  if (response.choices().empty() || response.choices(0).message().content().empty())
    return make_error(Errc::invalid_argument, "the LLM's answer has no text");
  LlmReply reply;
  reply.text = response.choices(0).message().content();
  reply.prompt_tokens = response.usage().prompt_tokens();
  reply.completion_tokens = response.usage().completion_tokens();
  return reply;
}

}  // namespace

// libcurl's progress callback (at least once a second): nonzero aborts.
static int cancelled(void* cancel, curl_off_t, curl_off_t, curl_off_t, curl_off_t) {
  return static_cast<const std::atomic<bool>*>(cancel)->load() ? 1 : 0;
}

Result<LlmReply> chat(const LlmConfig& config, const projections::ChatPrompt& prompt) {
  static std::once_flag init;
  std::call_once(init, [] { curl_global_init(CURL_GLOBAL_DEFAULT); });
  if (config.base_url.empty()) return make_error(Errc::unavailable, "no LLM is configured");
  std::unique_ptr<CURL, decltype(&curl_easy_cleanup)> curl(curl_easy_init(), curl_easy_cleanup);
  if (!curl) return make_error(Errc::internal, "curl_easy_init failed");
  auto url = config.base_url;
  while (!url.empty() && url.back() == '/') url.pop_back();
  url += "/v1/chat/completions";
  auto body = request_json(config, prompt);
  curl_slist* headers = curl_slist_append(nullptr, "Content-Type: application/json");
  if (!config.api_key.empty())
    headers = curl_slist_append(headers, ("Authorization: Bearer " + config.api_key).c_str());
  std::unique_ptr<curl_slist, decltype(&curl_slist_free_all)> header_list(headers,
                                                                          curl_slist_free_all);
  std::string answer;
  CURL* c = curl.get();
  curl_easy_setopt(c, CURLOPT_URL, url.c_str());
  curl_easy_setopt(c, CURLOPT_POST, 1L);
  curl_easy_setopt(c, CURLOPT_POSTFIELDS, body.c_str());
  curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE, static_cast<long>(body.size()));
  curl_easy_setopt(c, CURLOPT_HTTPHEADER, headers);
  curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, static_cast<long>(config.timeout.count()));
  curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT_MS, static_cast<long>(config.timeout.count()));
  curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);  // many threads: no SIGALRM for timeouts
  if (config.cancel) {
    curl_easy_setopt(c, CURLOPT_NOPROGRESS, 0L);
    curl_easy_setopt(c, CURLOPT_XFERINFOFUNCTION, cancelled);
    curl_easy_setopt(c, CURLOPT_XFERINFODATA, config.cancel);
  }
  curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, append_body);
  curl_easy_setopt(c, CURLOPT_WRITEDATA, &answer);
  auto code = curl_easy_perform(c);
  if (code != CURLE_OK)
    return make_error(Errc::unavailable,
                      std::string("LLM request failed: ") + curl_easy_strerror(code));
  long status = 0;
  curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &status);
  if (status >= 500 || status == 429)
    return make_error(Errc::unavailable, "LLM answered HTTP " + std::to_string(status));
  if (status != 200)
    return make_error(Errc::invalid_argument, "LLM answered HTTP " + std::to_string(status));
  return parse_reply(answer);
}

}  // namespace coach::actors
