#include "projections/nudge_text.h"

#include <algorithm>
#include <array>
#include <cctype>
#include <unordered_set>

namespace coach::projections {
namespace {

using M = v1::CoachingMode;
constexpr M kEnc = v1::COACHING_MODE_ENCOURAGEMENT;
constexpr M kRoast = v1::COACHING_MODE_ROAST;
constexpr M kNeutral = v1::COACHING_MODE_NEUTRAL;
constexpr M kMin = v1::COACHING_MODE_MINIMALIST;
using T = Trigger;

// The library. Rules for new lines: kind even when teasing (tease the task
// or the situation, never the person), no advice about health or money, and
// only placeholders the trigger fills (see NudgeContext).
const std::vector<NudgeTemplate> kTemplates = {
    // --- deadline approaching
    {kEnc, T::deadline_approaching, 0,
     "\"{title}\" is due {due}. A first small step now makes the rest easier. You've got this."},
    {kEnc, T::deadline_approaching, 0,
     "Heads up: \"{title}\" is due {due}. Start with ten minutes and see where it takes you."},
    {kEnc, T::deadline_approaching, 0,
     "You have time for \"{title}\" if you begin this {when}. It's due {due}, and you're up to "
     "it."},
    {kEnc, T::deadline_approaching, 0,
     "\"{title}\" is coming up {due}. Open it, write the first line, and let momentum do the "
     "rest."},
    {kEnc, T::deadline_approaching, 0,
     "Good moment to get \"{title}\" going: it's due {due}. Future you will be grateful."},
    {kRoast, T::deadline_approaching, 1,
     "\"{title}\" is due {due}, and it has not started itself yet. Rude of it, honestly. Give it a "
     "nudge?"},
    {kRoast, T::deadline_approaching, 1,
     "Breaking news: \"{title}\" is due {due}. Sources say staring at it does not count as "
     "progress."},
    {kRoast, T::deadline_approaching, 3,
     "\"{title}\", due {due}, is waiting like a cat at 6 a.m. It will not stop until you get up. "
     "Go on."},
    {kRoast, T::deadline_approaching, 3,
     "The deadline for \"{title}\" is {due}. Procrastination has had a good run; let's give the "
     "task a turn."},
    {kRoast, T::deadline_approaching, 5,
     "\"{title}\" is due {due}. Your future self just sent a strongly worded memo. Start now and "
     "they'll take it back."},
    {kNeutral, T::deadline_approaching, 0, "\"{title}\" is due {due} and has not been started."},
    {kNeutral, T::deadline_approaching, 0,
     "Reminder: \"{title}\" is due {due}. Now is a good time to begin."},
    {kNeutral, T::deadline_approaching, 0, "Upcoming deadline: \"{title}\", {due}."},
    {kNeutral, T::deadline_approaching, 0,
     "\"{title}\" needs attention this {when}; it is due {due}."},
    {kMin, T::deadline_approaching, 0, "\"{title}\": due {due}."},
    {kMin, T::deadline_approaching, 0, "Start \"{title}\". Due {due}."},
    {kMin, T::deadline_approaching, 0, "Due {due}: \"{title}\"."},
    {kMin, T::deadline_approaching, 0, "\"{title}\", now?"},

    // --- repeated snooze
    {kEnc, T::repeated_snooze, 0,
     "\"{title}\" has been snoozed {snoozes} {snoozes:time|times}. Maybe it needs a smaller first "
     "step, not more "
     "time. What's the tiniest piece?"},
    {kEnc, T::repeated_snooze, 0,
     "Snoozed {snoozes} {snoozes:time|times}: \"{title}\" might be bigger than it looks. Try "
     "splitting it; each "
     "part will feel lighter."},
    {kEnc, T::repeated_snooze, 0,
     "It's fine that \"{title}\" keeps getting pushed. Fifteen focused minutes on it today would "
     "already be a win."},
    {kEnc, T::repeated_snooze, 0,
     "\"{title}\" keeps coming back ({snoozes} {snoozes:snooze|snoozes}). You can do hard things; "
     "start with the "
     "easiest bit."},
    {kRoast, T::repeated_snooze, 1,
     "\"{title}\" has been snoozed {snoozes} {snoozes:time|times}. At this point it's less a task "
     "and more a "
     "long-term roommate."},
    {kRoast, T::repeated_snooze, 1,
     "Snooze count for \"{title}\": {snoozes}. The snooze button would like a day off, please."},
    {kRoast, T::repeated_snooze, 3,
     "\"{title}\" ({snoozes} {snoozes:snooze|snoozes}) is starting to feel like a sequel nobody "
     "asked for. Let's "
     "write the finale."},
    {kRoast, T::repeated_snooze, 3,
     "{snoozes} {snoozes:snooze|snoozes} on \"{title}\". Impressive dedication to tomorrow. Today "
     "wants a turn "
     "too."},
    {kRoast, T::repeated_snooze, 5,
     "\"{title}\" has been snoozed {snoozes} {snoozes:time|times}. It has started decorating its "
     "spot on your "
     "list. Evict it: ten minutes, go."},
    {kNeutral, T::repeated_snooze, 0,
     "\"{title}\" has been snoozed {snoozes} {snoozes:time|times}. Consider splitting it or "
     "changing its due "
     "date."},
    {kNeutral, T::repeated_snooze, 0,
     "\"{title}\": {snoozes} {snoozes:snooze|snoozes} so far. Decide today whether to do, shorten "
     "or drop it."},
    {kNeutral, T::repeated_snooze, 0,
     "Repeatedly postponed: \"{title}\" ({snoozes} {snoozes:time|times})."},
    {kNeutral, T::repeated_snooze, 0,
     "\"{title}\" keeps being snoozed. A smaller first step may help."},
    {kMin, T::repeated_snooze, 0, "\"{title}\": {snoozes} {snoozes:snooze|snoozes}."},
    {kMin, T::repeated_snooze, 0, "Split \"{title}\"?"},
    {kMin, T::repeated_snooze, 0, "\"{title}\": do, shorten or drop."},
    {kMin, T::repeated_snooze, 0, "Snoozed {snoozes}x: \"{title}\"."},

    // --- overdue
    {kEnc, T::overdue, 0,
     "\"{title}\" was due {due}. No guilt needed: pick a new time or take one step on it now."},
    {kEnc, T::overdue, 0,
     "\"{title}\" slipped past its due date ({due}). It happens. A fresh start this {when} still "
     "counts."},
    {kEnc, T::overdue, 0,
     "Late is better than never: \"{title}\" was due {due} and is still open. You can close it "
     "today."},
    {kEnc, T::overdue, 0,
     "\"{title}\" is overdue ({due}). Let's make it the first thing you finish today."},
    {kRoast, T::overdue, 1,
     "\"{title}\" was due {due}. It's not mad, just disappointed. Mostly it just wants to be "
     "done."},
    {kRoast, T::overdue, 1,
     "\"{title}\" went past its due date {due}. Deadlines are more of a guideline, sure, but this "
     "one misses you."},
    {kRoast, T::overdue, 3,
     "\"{title}\" was due {due}. It's now old enough to have opinions. Finish it before it starts "
     "giving advice."},
    {kRoast, T::overdue, 3,
     "Fun fact: \"{title}\" was due {due}. Less fun fact: it is still here. Let's change the "
     "ending."},
    {kRoast, T::overdue, 5,
     "\"{title}\", due {due}, has officially entered its vintage era. Collectors aren't "
     "interested. Finish it."},
    {kNeutral, T::overdue, 0, "\"{title}\" is overdue (due {due})."},
    {kNeutral, T::overdue, 0,
     "\"{title}\" passed its due date {due}. Complete it or set a new date."},
    {kNeutral, T::overdue, 0,
     "Overdue: \"{title}\", due {due}. {overdue} {overdue:task is|tasks are} past due in total."},
    {kNeutral, T::overdue, 0, "\"{title}\" is still open after its deadline ({due})."},
    {kMin, T::overdue, 0, "Overdue: \"{title}\"."},
    {kMin, T::overdue, 0, "\"{title}\": due {due}, still open."},
    {kMin, T::overdue, 0, "\"{title}\": finish or reschedule."},
    {kMin, T::overdue, 0, "{overdue} overdue. \"{title}\" first."},

    // --- inactivity
    {kEnc, T::inactivity, 0,
     "It's been quiet for a while. {pending} {pending:task is|tasks are} waiting; pick the easiest "
     "one and get "
     "rolling."},
    {kEnc, T::inactivity, 0,
     "Welcome back whenever you're ready. One small task this {when} is a great restart."},
    {kEnc, T::inactivity, 0,
     "A short session now could move things forward: you have {pending} open {pending:task|tasks}, "
     "and any one of "
     "them counts."},
    {kEnc, T::inactivity, 0,
     "Rest is good, and so is a gentle start. What's one thing you could finish this {when}?"},
    {kRoast, T::inactivity, 1,
     "Your task list checked its messages: nothing from you in a while. It's fine. It's totally "
     "fine. Say hi?"},
    {kRoast, T::inactivity, 1,
     "{pending} {pending:task is|tasks are} holding a quiet meeting about you. Pop in and take one "
     "off the agenda."},
    {kRoast, T::inactivity, 3,
     "It has been so quiet that your tasks started a book club. Current read: 'Waiting'. Give them "
     "a plot twist."},
    {kRoast, T::inactivity, 5,
     "Your to-do list has been on hold so long it learned the hold music by heart. Pick one up "
     "this {when}."},
    {kNeutral, T::inactivity, 0,
     "No activity for a while. {pending} {pending:task is|tasks are} open."},
    {kNeutral, T::inactivity, 0,
     "You have {pending} open {pending:task|tasks}. Now is within your work hours."},
    {kNeutral, T::inactivity, 0,
     "Check-in: {pending} {pending:task is|tasks are} waiting for a next step."},
    {kNeutral, T::inactivity, 0,
     "It has been a while since your last update. Review your open tasks?"},
    {kMin, T::inactivity, 0, "{pending} open {pending:task|tasks}."},
    {kMin, T::inactivity, 0, "Pick one task."},
    {kMin, T::inactivity, 0, "Check-in?"},
    {kMin, T::inactivity, 0, "Back to it?"},

    // --- streak
    {kEnc, T::streak, 0,
     "{streak} {streak:day|days} in a row with something finished. That's a real streak; keep it "
     "going!"},
    {kEnc, T::streak, 0, "Day {streak} of getting things done. Nice rhythm, and it's yours."},
    {kEnc, T::streak, 0,
     "You've completed tasks {streak} {streak:day|days} running. Consistency like that adds up "
     "fast. Proud of "
     "you."},
    {kEnc, T::streak, 0,
     "Streak: {streak} {streak:day|days}. One more small win today keeps the momentum alive."},
    {kRoast, T::streak, 1,
     "{streak} {streak:day|days} in a row of finishing things. Who are you and what did you do "
     "with the snooze "
     "button?"},
    {kRoast, T::streak, 1,
     "Streak: {streak} {streak:day|days} and counting. Your task list is confused but happy. Keep "
     "confusing it."},
    {kRoast, T::streak, 3,
     "{streak} {streak:day|days} straight. At this rate your to-do list will need a hobby. Keep "
     "going."},
    {kRoast, T::streak, 5,
     "{streak}-day streak! Your procrastination has filed a missing person report. Let's keep it "
     "searching."},
    {kNeutral, T::streak, 0, "You completed tasks on {streak} consecutive days."},
    {kNeutral, T::streak, 0, "Current streak: {streak} {streak:day|days} with a completed task."},
    {kNeutral, T::streak, 0, "{streak} {streak:day|days} in a row with progress."},
    {kNeutral, T::streak, 0, "Streak update: {streak} {streak:day|days}."},
    {kMin, T::streak, 0, "Streak: {streak} {streak:day|days}."},
    {kMin, T::streak, 0, "{streak} {streak:day|days} in a row."},
    {kMin, T::streak, 0, "Day {streak}. Keep going."},
    {kMin, T::streak, 0, "{streak}/{streak}."},

    // --- completion
    {kEnc, T::completion, 0,
     "\"{title}\" is done, and on time. Well done! Enjoy that feeling for a moment."},
    {kEnc, T::completion, 0,
     "Finished \"{title}\" before the deadline. That's exactly how it's done."},
    {kEnc, T::completion, 0, "Great work on \"{title}\"! One less thing on your mind."},
    {kEnc, T::completion, 0, "\"{title}\": complete. You said you'd do it, and you did. Nice."},
    {kRoast, T::completion, 1,
     "\"{title}\" done on time? Look at you, making deadlines look easy. Show-off."},
    {kRoast, T::completion, 1,
     "You finished \"{title}\" early. The deadline is sitting there with nothing to do. Great "
     "work."},
    {kRoast, T::completion, 3,
     "\"{title}\" is done before its due date. Somewhere, a snooze button sheds a single tear. "
     "Well played."},
    {kRoast, T::completion, 5,
     "\"{title}\": crushed, on time. Your procrastination asked for a rematch. Denied."},
    {kNeutral, T::completion, 0, "\"{title}\" completed on time."},
    {kNeutral, T::completion, 0, "Done: \"{title}\", before its due date."},
    {kNeutral, T::completion, 0,
     "\"{title}\" is finished. {pending} {pending:task remains|tasks remain} open."},
    {kNeutral, T::completion, 0, "Completed ahead of the deadline: \"{title}\"."},
    {kMin, T::completion, 0, "\"{title}\": done."},
    {kMin, T::completion, 0, "Done. On time."},
    {kMin, T::completion, 0, "\"{title}\" done. {pending} left."},
    {kMin, T::completion, 0, "Nice: \"{title}\"."},

    // --- plan changed
    {kEnc, T::plan_changed, 0,
     "Your plan shifted: {plan}. A fresh plan is a fresh chance; take a look when you can."},
    {kEnc, T::plan_changed, 0,
     "I re-planned your week: {plan}. You're still on track if you follow it."},
    {kEnc, T::plan_changed, 0,
     "Things moved around: {plan}. Have a look and accept the blocks that work for you."},
    {kEnc, T::plan_changed, 0,
     "New plan ready: {plan}. Small adjustments now save a scramble later."},
    {kRoast, T::plan_changed, 1,
     "Plot twist in your schedule: {plan}. Have a look before it twists again."},
    {kRoast, T::plan_changed, 1,
     "Your calendar did some rearranging: {plan}. Please review; it is very proud of itself."},
    {kRoast, T::plan_changed, 3,
     "The schedule has been remixed: {plan}. Not a chart-topper yet, but it could be with your "
     "approval."},
    {kRoast, T::plan_changed, 5,
     "Your plan just did a dramatic costume change: {plan}. Check it out before the next act."},
    {kNeutral, T::plan_changed, 0, "Your schedule changed: {plan}."},
    {kNeutral, T::plan_changed, 0, "Updated plan: {plan}. Review the new time blocks."},
    {kNeutral, T::plan_changed, 0, "Schedule update: {plan}."},
    {kNeutral, T::plan_changed, 0, "Your recommended time blocks have changed: {plan}."},
    {kMin, T::plan_changed, 0, "Plan changed: {plan}."},
    {kMin, T::plan_changed, 0, "New plan: {plan}."},
    {kMin, T::plan_changed, 0, "Schedule: {plan}."},
    {kMin, T::plan_changed, 0, "Review plan: {plan}."},

    // --- on demand (with the most pressing task)
    {kEnc, T::on_demand, 0,
     "Let's go: \"{title}\" is the one to do next (due {due}). Start small, start now."},
    {kEnc, T::on_demand, 0,
     "Your next best step is \"{title}\", due {due}. Twenty minutes this {when} would be a great "
     "push."},
    {kEnc, T::on_demand, 0,
     "You asked, so here it is: \"{title}\". You can make real progress on it right now."},
    {kEnc, T::on_demand, 0,
     "Focus pick for this {when}: \"{title}\" (due {due}). You've handled harder things."},
    {kRoast, T::on_demand, 1,
     "You asked for a nudge, which is half the battle. The other half is \"{title}\" (due {due})."},
    {kRoast, T::on_demand, 1,
     "Nudge requested, nudge delivered: \"{title}\", due {due}. The task won't do itself, though "
     "it has been asked."},
    {kRoast, T::on_demand, 3,
     "\"{title}\" (due {due}) is up. You wanted a push; consider yourself gently but firmly "
     "pushed."},
    {kRoast, T::on_demand, 5,
     "Here's your nudge: \"{title}\", due {due}. Go now, before you ask for a nudge about the "
     "nudge."},
    {kNeutral, T::on_demand, 0, "Next task: \"{title}\", due {due}."},
    {kNeutral, T::on_demand, 0,
     "Most pressing: \"{title}\" (due {due}). {pending} {pending:task|tasks} open."},
    {kNeutral, T::on_demand, 0, "Suggested focus for this {when}: \"{title}\"."},
    {kNeutral, T::on_demand, 0, "Work on \"{title}\" next (due {due})."},
    {kMin, T::on_demand, 0, "Next: \"{title}\"."},
    {kMin, T::on_demand, 0, "\"{title}\". Due {due}."},
    {kMin, T::on_demand, 0, "Do \"{title}\"."},
    {kMin, T::on_demand, 0, "\"{title}\", now."},

    // --- all clear (on demand, nothing pending)
    {kEnc, T::all_clear, 0,
     "Nothing open right now. Enjoy the space, or add the next thing you want to get done."},
    {kEnc, T::all_clear, 0, "Your list is clear. That's worth a moment of pride."},
    {kEnc, T::all_clear, 0, "All caught up! Plan something you're looking forward to."},
    {kEnc, T::all_clear, 0, "No pending tasks: a great time to rest or to set up your next goal."},
    {kRoast, T::all_clear, 1,
     "You asked for a nudge, but your list is empty. I have nothing. You win this round."},
    {kRoast, T::all_clear, 1,
     "Zero open tasks. I came prepared to nudge and now I just feel overdressed."},
    {kRoast, T::all_clear, 3,
     "An empty to-do list. Either you're a legend or you haven't written anything down. Either "
     "way, nice."},
    {kRoast, T::all_clear, 5,
     "Nothing pending. I'll just sit here, polishing my best lines for later."},
    {kNeutral, T::all_clear, 0, "You have no open tasks."},
    {kNeutral, T::all_clear, 0, "Nothing is pending right now."},
    {kNeutral, T::all_clear, 0, "All tasks are complete."},
    {kNeutral, T::all_clear, 0, "Your task list is empty."},
    {kMin, T::all_clear, 0, "All clear."},
    {kMin, T::all_clear, 0, "Nothing pending."},
    {kMin, T::all_clear, 0, "Done for now."},
    {kMin, T::all_clear, 0, "Empty list."},
};

// Words a nudge must never contain (whole words, lowercase).
const std::unordered_set<std::string_view> kBlockedWords = {
    "stupid",      "idiot",     "idiotic", "moron",    "dumb",     "loser",      "lazy",
    "pathetic",    "worthless", "useless", "ugly",     "fat",      "hate",       "hateful",
    "kill",        "die",       "dead",    "shut",     "crap",     "damn",       "hell",
    "sucks",       "suck",      "shame",   "shameful", "disgrace", "disgusting", "failure",
    "incompetent", "fool",      "foolish", "clown",
};
// Stems of medical and financial advice (a word starting with one is blocked).
const std::array<std::string_view, 22> kAdviceStems = {
    "medic",   "diagnos", "therap",   "prescri",    "antidepress", "pill",   "dose",    "dosage",
    "adhd",    "depress", "anxiet",   "invest",     "stock",       "crypto", "bitcoin", "loan",
    "mortgag", "trading", "portfoli", "retirement", "tax",         "insur"};

std::vector<std::string> words_of(std::string_view text) {
  std::vector<std::string> words;
  std::string word;
  for (char c : text) {
    auto u = static_cast<unsigned char>(c);
    if (std::isalnum(u) || c == '\'') {
      word.push_back(static_cast<char>(std::tolower(u)));
    } else if (!word.empty()) {
      words.push_back(std::move(word));
      word.clear();
    }
  }
  if (!word.empty()) words.push_back(std::move(word));
  for (auto& w : words)  // "task's" -> "task"
    if (auto q = w.find('\''); q != std::string::npos) w.resize(q);
  return words;
}

const std::unordered_set<std::string_view> kPositive = {
    "great",     "nice",     "done",   "good",    "proud",  "win",     "well",     "progress",
    "streak",    "enjoy",    "ready",  "fresh",   "easier", "lighter", "momentum", "complete",
    "completed", "finished", "finish", "crushed", "happy",  "legend",  "grateful", "got",
    "track",     "chance",   "best",   "early",   "keep",   "can",     "rest",     "clear"};
const std::unordered_set<std::string_view> kNegative = {
    "late",    "overdue", "slipped",      "missed", "behind", "risk",     "stuck",   "postponed",
    "snoozed", "snoozes", "disappointed", "mad",    "guilt",  "scramble", "waiting", "rude",
    "old",     "quiet",   "no",           "not",    "never",  "hard",     "memo",    "evict"};

// The number a counting placeholder stands for; -1 for other keys.
int64_t count_of(std::string_view key, const NudgeContext& c) {
  if (key == "snoozes") return c.snoozes;
  if (key == "streak") return c.streak_days;
  if (key == "pending") return c.pending;
  if (key == "overdue") return std::max(1, c.overdue);
  return -1;
}

// "{pending:task is|tasks are}": the words that agree with the count.
std::string agreeing_words(std::string_view key, std::string_view forms, const NudgeContext& c) {
  auto bar = forms.find('|');
  if (count_of(key, c) < 0 || bar == std::string_view::npos)
    return "{" + std::string(key) + ":" + std::string(forms) + "}";
  return std::string(count_of(key, c) == 1 ? forms.substr(0, bar) : forms.substr(bar + 1));
}

std::string relative_word(std::string_view key, const NudgeContext& c) {
  if (auto colon = key.find(':'); colon != std::string_view::npos)
    return agreeing_words(key.substr(0, colon), key.substr(colon + 1), c);
  if (key == "title") return c.title;
  if (key == "due") return c.due.empty() ? "soon" : c.due;
  if (key == "snoozes") return std::to_string(c.snoozes);
  if (key == "streak") return std::to_string(c.streak_days);
  if (key == "pending") return std::to_string(c.pending);
  if (key == "overdue") return std::to_string(std::max(1, c.overdue));
  if (key == "when") return c.time_of_day.empty() ? "day" : c.time_of_day;
  if (key == "plan") return c.plan.empty() ? "some blocks moved" : c.plan;
  return "{" + std::string(key) + "}";
}

// Titles are the user's own words: shortened so a nudge stays short.
std::string short_title(const std::string& title) {
  constexpr size_t kMax = 80;
  if (title.size() <= kMax) return title;
  size_t cut = kMax;
  while (cut > 0 && (static_cast<unsigned char>(title[cut]) & 0xC0) == 0x80) --cut;  // UTF-8
  return title.substr(0, cut) + "...";
}

std::string_view mode_description(v1::CoachingMode mode) {
  switch (mode) {
    case v1::COACHING_MODE_ROAST:
      return "roast: playful, teasing humor about the task or situation, never about the person";
    case v1::COACHING_MODE_NEUTRAL:
      return "neutral: factual and calm, no jokes";
    case v1::COACHING_MODE_MINIMALIST:
      return "minimalist: at most eight words";
    default:
      return "encouragement: warm, supportive, optimistic";
  }
}

}  // namespace

std::string_view trigger_name(Trigger trigger) {
  static constexpr std::array<std::string_view, kTriggerCount> names = {
      "deadline_approaching", "repeated_snooze", "overdue",   "inactivity", "streak",
      "completion",           "plan_changed",    "on_demand", "all_clear"};
  return names[static_cast<size_t>(trigger)];
}

const std::vector<NudgeTemplate>& all_templates() {
  return kTemplates;
}

std::string fill_template(std::string_view text, const NudgeContext& context) {
  NudgeContext c = context;
  c.title = short_title(c.title);
  std::string out;
  out.reserve(text.size() + 64);
  for (size_t i = 0; i < text.size(); ++i) {
    if (text[i] == '{') {
      auto close = text.find('}', i);
      if (close != std::string_view::npos) {
        out += relative_word(text.substr(i + 1, close - i - 1), c);
        i = close;
        continue;
      }
    }
    out.push_back(text[i]);
  }
  return out;
}

std::string_view persona_sign_off(v1::PersonaType persona, uint64_t seed) {
  static constexpr std::array<std::string_view, 3> coach = {" You've got this.", " Coach's orders.",
                                                            ""};
  static constexpr std::array<std::string_view, 3> chill = {" No stress.", " Easy does it.",
                                                            " One thing at a time."};
  switch (persona) {
    case v1::PERSONA_TYPE_COACH:
      return coach[seed % coach.size()];
    case v1::PERSONA_TYPE_CHILL:
      return chill[seed % chill.size()];
    default:
      return "";
  }
}

std::string render_template(const NudgeContext& context) {
  auto mode = context.mode == v1::COACHING_MODE_UNSPECIFIED ? kEnc : context.mode;
  std::vector<const NudgeTemplate*> fit;
  for (const auto& t : kTemplates)
    if (t.mode == mode && t.trigger == context.trigger && t.heat <= std::max(1, context.humor))
      fit.push_back(&t);
  if (fit.empty())  // cannot happen with the library above; stay safe anyway
    return "You have " + std::to_string(context.pending) + " open tasks.";
  const auto* chosen = fit[context.seed % fit.size()];
  std::string text = fill_template(chosen->text, context);
  if (mode != kMin) text += persona_sign_off(context.persona, context.seed / fit.size());
  return text;
}

Status check_text(std::string_view text) {
  auto invalid = [](std::string why) { return make_error(Errc::invalid_argument, std::move(why)); };
  size_t visible = 0;
  for (char c : text)
    if (!std::isspace(static_cast<unsigned char>(c))) ++visible;
  if (visible == 0) return invalid("the nudge text is empty");
  if (text.size() > kMaxNudgeChars)
    return invalid("the nudge text is " + std::to_string(text.size()) + " bytes, more than " +
                   std::to_string(kMaxNudgeChars));
  for (const auto& word : words_of(text)) {
    if (kBlockedWords.count(word)) return invalid("the nudge text contains \"" + word + "\"");
    for (auto stem : kAdviceStems)
      if (word.rfind(stem, 0) == 0)
        return invalid("the nudge text reads as medical or financial advice (\"" + word + "\")");
  }
  return Ok{};
}

double sentiment(std::string_view text) {
  int p = 0, n = 0;
  for (const auto& word : words_of(text)) {
    if (kPositive.count(word)) ++p;
    if (kNegative.count(word)) ++n;
  }
  return static_cast<double>(p - n) / (p + n + 1);
}

ChatPrompt build_prompt(const NudgeContext& c) {
  ChatPrompt prompt;
  prompt.system =
      "You are coach, a productivity coach. Write one short nudge for the user, plain text, at "
      "most 240 characters, no quotes, no lists. Mode: " +
      std::string(mode_description(c.mode)) + ". Humor intensity " + std::to_string(c.humor) +
      " of 5. Be kind: tease the task or the situation, never the person; no insults, no "
      "profanity, no medical, mental-health or financial advice.";
  std::string user = "Why now: " + std::string(trigger_name(c.trigger)) + ".";
  if (!c.title.empty()) user += " Task: \"" + short_title(c.title) + "\".";
  if (!c.due.empty()) user += " Due " + c.due + ".";
  if (c.snoozes > 0) user += " Snoozed " + std::to_string(c.snoozes) + " times.";
  if (c.streak_days > 0) user += " Streak: " + std::to_string(c.streak_days) + " days.";
  if (!c.plan.empty()) user += " Plan change: " + c.plan + ".";
  user +=
      " Open tasks: " + std::to_string(c.pending) + ", overdue: " + std::to_string(c.overdue) + ".";
  if (c.score >= 0) {
    char buf[64];
    std::snprintf(buf, sizeof buf, " Procrastination score %.2f (0 = follows through, 1 = late).",
                  c.score);
    user += buf;
  }
  if (!c.local_time.empty()) user += " Local time: " + c.local_time + " (" + c.time_of_day + ").";
  prompt.user = std::move(user);
  return prompt;
}

}  // namespace coach::projections
