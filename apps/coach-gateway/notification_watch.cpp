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

void NotificationWatch::end(v1::ErrorReply why) {
  {
    std::lock_guard lock(mu_);
    if (ended_) return;
    ended_ = std::move(why);
  }
  changed();
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

void NotificationWatch::offer(v1::NudgeRecord record) {
  {
    std::lock_guard lock(mu_);
    if (ended_ || record.position() <= last_position_) return;  // handed out already
    if (waiting_.size() >= buffer_) {
      waiting_.clear();  // the client resumes from what it took last
      ended_ = error_reply("resource_exhausted",
                           "the client reads too slowly: " + std::to_string(buffer_) +
                               " notifications waited; resume after the last position taken");
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
  v1::NudgeRecord record;
  if (auto watch = static_cast<WatchRef*>(closure)->lock();
      watch && record.ParseFromArray(natsMsg_GetData(msg), natsMsg_GetDataLength(msg)))
    watch->offer(std::move(record));
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
  return static_cast<size_t>(
      std::count_if(watches_.begin(), watches_.end(), [](const auto& w) { return !w.expired(); }));
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
  if (std::lock_guard lock(mu_); stopping_) return {nullptr, stopping()};
  if (open_watches() >= options_.max_watches)
    return {nullptr, error_reply("busy", "the gateway holds too many live feeds; retry later")};
  v1::Reply profile;
  if (auto refused = ask(caller, "user.get", v1::GetProfile().SerializeAsString(), &profile))
    return {nullptr, *refused};
  auto user = Uuid::parse(profile.profile().user().id(), "user id");
  if (!user) return {nullptr, error_reply("internal", "coach named no user for this token")};

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
  // meanwhile are in the buffer already: take the missed ones in front.
  std::vector<v1::NudgeRecord> older(list.nudge_list().nudges().rbegin(),
                                     list.nudge_list().nudges().rend());
  {
    std::lock_guard lock(watch->mu_);
    std::deque<v1::NudgeRecord> merged;
    for (auto& r : older)
      if (r.position() > caller.after_position) merged.push_back(std::move(r));
    uint64_t newest = merged.empty() ? caller.after_position : merged.back().position();
    for (auto& r : watch->waiting_)
      if (r.position() > newest) merged.push_back(std::move(r));
    watch->waiting_ = std::move(merged);
    if (!watch->waiting_.empty())
      watch->last_position_ = std::max(watch->last_position_, watch->waiting_.back().position());
  }
  std::lock_guard lock(mu_);
  if (stopping_) return {nullptr, stopping()};
  watches_.erase(
      std::remove_if(watches_.begin(), watches_.end(), [](const auto& w) { return w.expired(); }),
      watches_.end());
  watches_.push_back(watch);
  return {watch, {}};
}

void WatchHub::keep() {
  auto tick = std::min<std::chrono::milliseconds>(options_.recheck, std::chrono::seconds(1));
  std::unique_lock lock(mu_);
  while (!stop_.wait_for(lock, tick, [&] { return stopping_; })) {
    auto now = std::chrono::steady_clock::now();
    std::vector<std::shared_ptr<NotificationWatch>> due;
    for (auto& weak : watches_)
      if (auto watch = weak.lock(); watch && now - watch->checked_at_ >= options_.recheck) {
        watch->checked_at_ = now;
        due.push_back(std::move(watch));
      }
    lock.unlock();
    for (auto& watch : due) {
      auto caller = watch->caller_;
      caller.deadline = std::chrono::system_clock::now() + std::chrono::seconds(5);
      v1::Reply profile;
      if (auto refused = ask(caller, "user.get", v1::GetProfile().SerializeAsString(), &profile);
          refused && ends_watch(refused->code()))
        watch->end(*refused);
    }
    due.clear();  // a watch's last owner may be this thread: let it go unlocked
    lock.lock();
  }
}

}  // namespace coach::apps
