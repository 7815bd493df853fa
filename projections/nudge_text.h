// NudgeText: the words of a coaching nudge (issue #7). Pure.
//
// - Templates: a library of varied templates per coaching mode x trigger
//   (all_templates), filled from a NudgeContext (task title, due, snoozes,
//   streak, time of day, ...). Roast templates carry a heat level and are
//   used only up to the user's humor_intensity; the persona adds its
//   sign-off. The variant is picked by the context's seed, so the same
//   nudge renders the same text and users do not see one line over and over.
// - check_text: what any nudge text must pass, LLM or template: 1 to
//   kMaxNudgeChars characters, no word of the blocklist (insults, profanity)
//   and nothing that reads as medical or financial advice.
// - sentiment: a lexicon score in [-1, 1] (documented below).
// - build_prompt: the chat prompt for an LLM (OpenAI chat completions).
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "base/result.h"
#include "schema/entities.pb.h"

namespace coach::projections {

// What fired a nudge. Names are stable: they are stored in CoachingNudge.trigger.
enum class Trigger {
  deadline_approaching,  // due soon, not started
  repeated_snooze,       // one task snoozed again and again
  overdue,               // past due, still open
  inactivity,            // no activity for a while, inside work hours
  streak,                // completions on consecutive days
  completion,            // a task done on time, just now
  plan_changed,          // the schedule moved materially (issue #6)
  on_demand,             // the user asked: "nudge me now"
  all_clear,             // on demand, with nothing pending
};
inline constexpr int kTriggerCount = 9;

std::string_view trigger_name(Trigger trigger);

struct NudgeContext {
  Trigger trigger = Trigger::on_demand;
  v1::CoachingMode mode = v1::COACHING_MODE_ENCOURAGEMENT;
  v1::PersonaType persona = v1::PERSONA_TYPE_COACH;
  int humor = 2;            // 0 (dry) to 5 (playful)
  std::string title;        // the task's title; empty for nudges about no task
  std::string due;          // relative, e.g. "in 3 hours", "2 days ago"
  int snoozes = 0;          // of the task
  int streak_days = 0;      // days in a row with a completion
  int pending = 0;          // open tasks
  int overdue = 0;          // open tasks past due
  double score = -1;        // procrastination score, -1: unknown (tracking off)
  std::string time_of_day;  // "morning", "afternoon", "evening", "night"
  std::string local_time;   // e.g. "Tuesday 14:05"
  std::string plan;         // plan_changed: what moved, in words
  uint64_t seed = 0;        // picks the variant
};

struct NudgeTemplate {
  v1::CoachingMode mode;
  Trigger trigger;
  int heat;  // 0 mild .. 5 spicy; roast only, used when heat <= humor
  // With {title} {due} {snoozes} {streak} {pending} {overdue} {when} {plan};
  // a count's agreeing words as {pending:task is|tasks are} (singular for 1).
  std::string_view text;
};

inline constexpr size_t kMaxNudgeChars = 400;

// Every template in the library.
const std::vector<NudgeTemplate>& all_templates();

// The template text for a context (never empty; passes check_text).
std::string render_template(const NudgeContext& context);

// Fills the placeholders of one template from a context.
std::string fill_template(std::string_view text, const NudgeContext& context);

// Ok, or invalid_argument naming what is wrong (empty, too long, a blocked
// word, medical or financial advice).
Status check_text(std::string_view text);

// Lexicon sentiment in [-1, 1]: with p positive and n negative words of
// coach's small lexicon (nudge_text.cpp), (p - n) / (p + n + 1). Short
// texts with one cue stay near 0.5 rather than at the extremes; a text with
// no cue is 0.
double sentiment(std::string_view text);

// The sign-off a persona adds to template text ("" for some).
std::string_view persona_sign_off(v1::PersonaType persona, uint64_t seed);

struct ChatPrompt {
  std::string system, user;
};
ChatPrompt build_prompt(const NudgeContext& context);

}  // namespace coach::projections
