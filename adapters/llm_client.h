// LlmClient: one call to an OpenAI-compatible chat completions endpoint
// (POST <base_url>/v1/chat/completions) over HTTP with libcurl. Blocking, with
// a hard timeout; the NudgeWriter calls it from its own threads, never from
// an actor. Works with llama.cpp server, Ollama, vLLM and OpenAI.
#pragma once

#include <atomic>
#include <chrono>
#include <string>

#include "base/result.h"
#include "projections/nudge_text.h"

namespace coach::actors {

struct LlmConfig {
  std::string base_url;  // e.g. "http://127.0.0.1:8080"; empty: no LLM, templates only
  std::string model = "coach";
  std::string api_key;                      // sent as "Authorization: Bearer <key>" when set
  std::chrono::milliseconds timeout{4000};  // whole request, connect included
  int max_tokens = 120;
  double temperature = 0.8;
  // When set and true, a request in progress gives up (within about a
  // second): a node shutting down does not wait out the timeout.
  const std::atomic<bool>* cancel = nullptr;
};

struct LlmReply {
  std::string text;
  int prompt_tokens = 0, completion_tokens = 0;
};

// The model's answer, or: unavailable (no connection, timeout, HTTP 5xx or
// 429), invalid_argument (other HTTP errors, a body that is not the API's
// JSON, no choices, empty text).
Result<LlmReply> chat(const LlmConfig& config, const projections::ChatPrompt& prompt);

}  // namespace coach::actors
