#include "apps/coach-gateway/notification_watch.h"

#include <nats/nats.h>

#include <algorithm>

#include "apps/coach-gateway/coach_call.h"
#include "base/ids.h"
#include "wire/api_codec.h"
#include "wire/notify_subjects.h"

namespace coach::apps {
namespace {

v1::ErrorReply error_reply(const std::string& code, const std::string& message) {
  v1::ErrorReply e;
  e.set_code(code);
  e.set_message(message);
  return e;
}

// Errors of a re-check that end a watch: the token or the user is gone.
// Others (coach busy or not answering) leave it running until the next.
bool ends_watch(const std::string& code) {
  return code == "unauthenticated" || code == "permission_denied" || code == "not_found";
}

v1::ErrorReply stopping() {
  return error_reply("unavailable", "the gateway is stopping");
}

}  // namespace

NotificationWatch::~NotificationWatch() {
  if (subscription_) {
    natsSubscription_Unsubscribe(subscription_);
    natsSubscription_Destroy(subscription_);
  }
}

std::optional<v1::NudgeRecord> NotificationWatch::pop() {
  std::lock_guard lock(mu_);
  if (waiting_.empty()) return std::nullopt;
  auto record = std::move(waiting_.front());
  waiting_.pop_front();
  if (replayed_ > 0) --replayed_;
  return record;
}

void NotificationWatch::wait(std::chrono::milliseconds wait) {
  std::unique_lock lock(mu_);
  wake_.wait_for(lock, wait, [&] { return !waiting_.empty() || ended_; });
}

std::optional<v1::ErrorReply> NotificationWatch::ended() const {
  std::lock_guard lock(mu_);
  if (!waiting_.empty()) return std::nullopt;
  return ended_;
}

void NotificationWatch::on_change(std::function<void()> callback) {
  {
    std::lock_guard lock(mu_);
    on_change_ = std::move(callback);
  }
  changed();  // what arrived while opening
}

void NotificationWatch::on_stuck(std::function<void()> callback) {
  std::lock_guard lock(mu_);
  on_stuck_ = std::move(callback);
}

void NotificationWatch::end(v1::ErrorReply why) {
  {
    std::lock_guard lock(mu_);
    if (ended_) return;
    end_locked(std::move(why));
  }
  changed();
}

void NotificationWatch::end_locked(v1::ErrorReply why) {
  ended_ = std::move(why);
  ended_at_ = std::chrono::steady_clock::now();
}

void NotificationWatch::changed() {
  std::function<void()> callback;
  {
    std::lock_guard lock(mu_);
    callback = on_change_;
  }
  wake_.notify_all();
  if (callback) callback();
}

void NotificationWatch::offer(v1::NudgeRecord record, uint64_t previous_position) {
  {
    std::lock_guard lock(mu_);
    if (ended_ || record.position() <= last_position_) return;  // handed out already
    // While opening, what came before is what the store gives.
    if (!opening_ && previous_position > last_position_) {
      // The client resumes from what it took last and finds it stored.
      end_locked(error_reply("unavailable", "the live feed missed notification " +
                                                std::to_string(previous_position) +
                                                "; resume after the last position taken"));
    } else if (waiting_.size() - replayed_ >= buffer_) {
      waiting_.clear();  // the client resumes from what it took last
      replayed_ = 0;
      end_locked(error_reply("resource_exhausted",
                             "the client reads too slowly: " + std::to_string(buffer_) +
                                 " notifications waited; resume after the last position taken"));
    } else {
      last_position_ = record.position();
      waiting_.push_back(std::move(record));
    }
  }
  changed();
}

// The subscription's closure: a weak reference, freed by NATS once the
// subscription is closed and no callback runs any more.
using WatchRef = std::weak_ptr<NotificationWatch>;

void NotificationWatch::on_message(natsConnection*, natsSubscription*, natsMsg* msg,
                                   void* closure) {
  v1::LiveNotification live;
  if (auto watch = static_cast<WatchRef*>(closure)->lock();
      watch && live.ParseFromArray(natsMsg_GetData(msg), natsMsg_GetDataLength(msg)))
    watch->offer(std::move(*live.mutable_record()), live.previous_position());
  natsMsg_Destroy(msg);
}

namespace {
void free_ref(void* closure) {
  delete static_cast<WatchRef*>(closure);
}
}  // namespace

WatchHub::WatchHub(natsConnection* nats, WatchOptions options)
    : nats_(nats), options_(options), keeper_([this] { keep(); }) {}

WatchHub::~WatchHub() {
  stop();
  keeper_.join();
}

void WatchHub::stop() {
  std::vector<std::weak_ptr<NotificationWatch>> open;
  {
    std::lock_guard lock(mu_);
    stopping_ = true;
    open.swap(watches_);
  }
  stop_.notify_all();
  for (auto& weak : open)
    if (auto watch = weak.lock()) watch->end(stopping());
}

size_t WatchHub::open_watches() const {
  std::lock_guard lock(mu_);
  return open_watches_locked();
}

size_t WatchHub::open_watches_locked() const {
  return static_cast<size_t>(
      std::count_if(watches_.begin(), watches_.end(), [](const auto& w) { return !w.expired(); }));
}

bool WatchHub::may_listen() const {
  natsSubscription* probe = nullptr;
  auto subject = actors::live_subject(Uuid::random().to_string());
  if (natsConnection_SubscribeSync(&probe, nats_, subject.c_str()) != NATS_OK) return false;
  // nats-server answers a refused SUB with -ERR before the PONG.
  bool flushed = natsConnection_FlushTimeout(nats_, 5000) == NATS_OK;
  const char* text = nullptr;
  bool refused = natsConnection_GetLastError(nats_, &text) == NATS_NOT_PERMITTED;
  natsSubscription_Unsubscribe(probe);
  natsSubscription_Destroy(probe);
  return flushed && !refused;
}

std::optional<v1::ErrorReply> WatchHub::ask(const WatchCaller& caller, const std::string& operation,
                                            const std::string& body, v1::Reply* reply) const {
  CoachCall call{operation,
                 body,
                 std::string(actors::content_type_of(actors::Encoding::protobuf)),
                 caller.authorization,
                 caller.user,
                 {},
                 caller.deadline};
  auto answer = call_coach(nats_, call);
  if (answer.outcome == CoachAnswer::Outcome::timed_out)
    return error_reply("timeout", "coach did not answer " + operation + " in time");
  if (answer.outcome == CoachAnswer::Outcome::unreachable)
    return error_reply("unavailable", "coach is not reachable: " + answer.why);
  if (!reply->ParseFromString(answer.reply))
    return error_reply("internal", "coach's answer is not a Reply");
  if (reply->has_error()) return reply->error();
  return std::nullopt;
}

WatchHub::Opened WatchHub::open(WatchCaller caller) {
  {
    std::lock_guard lock(mu_);
    if (stopping_) return {nullptr, stopping()};
    if (open_watches_locked() + opening_ >= options_.max_watches)
      return {nullptr, error_reply("busy", "the gateway holds too many live feeds; retry later")};
    ++opening_;  // a slot, until the watch is kept or refused
  }
  auto opened = open_reserved(std::move(caller));
  std::lock_guard lock(mu_);
  --opening_;
  if (!opened.watch) return opened;
  if (stopping_) return {nullptr, stopping()};
  auto same_user = std::count_if(watches_.begin(), watches_.end(), [&](const auto& w) {
    auto other = w.lock();
    return other && other->user_id() == opened.watch->user_id() && !other->ended();
  });
  if (static_cast<size_t>(same_user) >= options_.max_per_user)
    return {nullptr, error_reply("busy", "this user has " + std::to_string(same_user) +
                                             " live feeds open already; close one")};
  watches_.erase(
      std::remove_if(watches_.begin(), watches_.end(), [](const auto& w) { return w.expired(); }),
      watches_.end());
  watches_.push_back(opened.watch);
  return opened;
}

WatchHub::Opened WatchHub::open_reserved(WatchCaller caller) {
  v1::Reply profile;
  if (auto refused = ask(caller, "user.get", v1::GetProfile().SerializeAsString(), &profile))
    return {nullptr, *refused};
  auto user = Uuid::parse(profile.profile().user().id(), "user id");
  if (!user) return {nullptr, error_reply("internal", "coach named no user for this token")};
  // A position the log never reached would drop every live nudge below it.
  if (caller.after_position > profile.profile().version())
    return {nullptr, error_reply("invalid_argument",
                                 "after_position " + std::to_string(caller.after_position) +
                                     " is past the user's log (its last position is " +
                                     std::to_string(profile.profile().version()) + ")")};

  std::shared_ptr<NotificationWatch> watch(new NotificationWatch(caller, options_.buffer));
  watch->user_id_ = user->to_string();
  watch->last_position_ = caller.after_position;
  watch->checked_at_ = std::chrono::steady_clock::now();
  auto subject = actors::live_subject(watch->user_id_);
  auto* ref = new WatchRef(watch);
  if (natsConnection_Subscribe(&watch->subscription_, nats_, subject.c_str(),
                               &NotificationWatch::on_message, ref) != NATS_OK) {
    delete ref;
    return {nullptr, error_reply("unavailable", "cannot subscribe to the live feed")};
  }
  natsSubscription_SetOnCompleteCB(watch->subscription_, &free_ref, ref);
  // The subscription must reach the server before coach is asked what was
  // missed, or a nudge stored in between would be on neither.
  if (natsConnection_FlushTimeout(nats_, 2000) != NATS_OK)
    return {nullptr, error_reply("unavailable", "the live feed's subscription was not confirmed")};

  v1::ListNudges missed;
  missed.set_limit(50);
  missed.set_after_position(caller.after_position);
  v1::Reply list;
  if (auto refused = ask(caller, "nudge.list", missed.SerializeAsString(), &list))
    return {nullptr, *refused};
  // Newest first from coach; handed out oldest first. Live ones that came
  // meanwhile are in the buffer already: the stored ones go in front.
  std::vector<v1::NudgeRecord> older(list.nudge_list().nudges().rbegin(),
                                     list.nudge_list().nudges().rend());
  {
    std::lock_guard lock(watch->mu_);
    std::deque<v1::NudgeRecord> merged;
    for (auto& r : older)
      if (r.position() > caller.after_position) merged.push_back(std::move(r));
    watch->replayed_ = merged.size();
    uint64_t newest = merged.empty() ? caller.after_position : merged.back().position();
    for (auto& r : watch->waiting_)
      if (r.position() > newest) merged.push_back(std::move(r));
    watch->waiting_ = std::move(merged);
    watch->opening_ = false;
    if (!watch->waiting_.empty())
      watch->last_position_ = std::max(watch->last_position_, watch->waiting_.back().position());
  }
  return {watch, {}};
}

void WatchHub::keep() {
  auto tick = std::min<std::chrono::milliseconds>(options_.recheck, std::chrono::seconds(1));
  std::unique_lock lock(mu_);
  while (!stop_.wait_for(lock, tick, [&] { return stopping_; })) {
    auto now = std::chrono::steady_clock::now();
    // Every watch taken hold of is let go after the lock: its last owner
    // may be this thread (and its subscription goes with it).
    std::vector<std::shared_ptr<NotificationWatch>> held, due, stuck;
    for (auto& weak : watches_) {
      auto watch = weak.lock();
      if (!watch) continue;
      held.push_back(watch);
      if (now - watch->checked_at_ >= options_.recheck) {
        watch->checked_at_ = now;
        due.push_back(watch);
      }
      std::lock_guard watch_lock(watch->mu_);
      if (watch->ended_ && !watch->told_stuck_ && now - watch->ended_at_ >= options_.stuck_after) {
        watch->told_stuck_ = true;
        stuck.push_back(watch);
      }
    }
    lock.unlock();
    // Unlocked: the calls wait for coach or reach into the owner.
    for (auto& watch : stuck) {
      std::function<void()> callback;
      {
        std::lock_guard watch_lock(watch->mu_);
        callback = watch->on_stuck_;
      }
      if (callback) callback();
    }
    for (auto& watch : due) {
      if (std::lock_guard stop_lock(mu_); stopping_) break;
      auto caller = watch->caller_;
      caller.deadline = std::chrono::system_clock::now() + std::chrono::seconds(2);
      v1::Reply profile;
      if (auto refused = ask(caller, "user.get", v1::GetProfile().SerializeAsString(), &profile);
          refused && ends_watch(refused->code()))
        watch->end(*refused);
    }
    held.clear();
    due.clear();
    stuck.clear();
    lock.lock();
  }
}

}  // namespace coach::apps
