// A caller's notifications, live (issue 19): what the gRPC stream
// WatchNotifications and the Server-Sent Events of the HTTP mapping send.
//
// Opening a watch asks coach, with the caller's own token:
//   1. user.get: coach verifies the token and names the user (the gateway
//      never reads tokens itself, and never takes a user id from the caller);
//   2. then the gateway subscribes to that user's live feed, coach.live.<user>
//      (wire/notify_subjects.h), where coachd publishes each nudge it stores;
//   3. then nudge.list with after_position: the nudges the caller has not
//      seen (the newest 50 at most: coach keeps no more per user).
// Subscribing before reading means nothing falls between 2 and 3; a nudge
// is handed out only when its position is above the last one handed out, so
// the caller sees each once, in order of position. A notification lost on
// the live feed (at most once, e.g. while the gateway reconnects) is found
// by the next watch that resumes from the caller's last position.
//
// A watch holds at most `buffer` notifications the client has not taken;
// one more ends it resource_exhausted ("the client reads too slowly"), and
// the client resumes from its last position. Every `recheck` the hub asks
// user.get again with the caller's token: an expired token
// (unauthenticated) or an erased user ends the watch with coach's error.
// Stopping the hub ends every watch unavailable.
#pragma once

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "schema/commands.pb.h"

typedef struct __natsConnection natsConnection;
typedef struct __natsSubscription natsSubscription;
typedef struct __natsMsg natsMsg;

namespace coach::apps {

struct WatchOptions {
  size_t buffer = 64;                        // notifications waiting for the client
  std::chrono::milliseconds recheck{60000};  // the token asked again this often
  size_t max_watches = 1024;                 // open at once; more are refused busy
};

// Who asks, and where their feed resumes.
struct WatchCaller {
  std::string authorization;    // "Bearer <token>"
  std::string user;             // Coach-User (admins on behalf of a user); empty: the token's
  uint64_t after_position = 0;  // the last position the caller has; 0: the newest 50
  // How long opening may wait for coach.
  std::chrono::system_clock::time_point deadline;
};

class NotificationWatch {
 public:
  ~NotificationWatch();  // unsubscribes
  NotificationWatch(const NotificationWatch&) = delete;
  NotificationWatch& operator=(const NotificationWatch&) = delete;

  // The next notification, if one waits.
  std::optional<v1::NudgeRecord> pop();
  // Blocks until a notification waits or the watch ended, at most `wait`.
  void wait(std::chrono::milliseconds wait);
  // Why the watch is over, once it is and nothing waits any more: code and
  // message as coach's errors have them. nullopt while it runs.
  std::optional<v1::ErrorReply> ended() const;
  // Called (from NATS's or the hub's thread) when pop() or ended() may
  // have something new. Set it once, right after opening.
  void on_change(std::function<void()> callback);
  // Ends the watch with `why` (e.g. the client left); idempotent.
  void end(v1::ErrorReply why);
  // The user whose feed this is (as coach named them).
  const std::string& user_id() const { return user_id_; }

 private:
  friend class WatchHub;
  NotificationWatch(WatchCaller caller, size_t buffer)
      : caller_(std::move(caller)), buffer_(buffer) {}
  static void on_message(natsConnection*, natsSubscription*, natsMsg* msg, void* closure);
  void offer(v1::NudgeRecord record);  // keeps order and drops what was handed out
  void changed();

  WatchCaller caller_;
  size_t buffer_;
  std::string user_id_;
  natsSubscription* subscription_ = nullptr;
  mutable std::mutex mu_;
  std::condition_variable wake_;
  std::deque<v1::NudgeRecord> waiting_;
  uint64_t last_position_ = 0;  // the highest position taken in
  std::optional<v1::ErrorReply> ended_;
  std::function<void()> on_change_;
  std::chrono::steady_clock::time_point checked_at_;
};

// Opens watches and keeps them: one thread asks coach about each watch's
// token every `recheck`.
class WatchHub {
 public:
  WatchHub(natsConnection* nats, WatchOptions options);  // `nats` is borrowed
  ~WatchHub();                                           // stop(), then joins its thread
  // Ends every watch unavailable ("the gateway is stopping"); opens after
  // it are refused so. Idempotent.
  void stop();
  WatchHub(const WatchHub&) = delete;
  WatchHub& operator=(const WatchHub&) = delete;

  struct Opened {
    std::shared_ptr<NotificationWatch> watch;  // null when refused
    v1::ErrorReply error;                      // why: coach's error, busy, unavailable
  };
  // Blocks for two requests to coach (see the top of this file).
  Opened open(WatchCaller caller);
  size_t open_watches() const;

 private:
  void keep();
  std::optional<v1::ErrorReply> ask(const WatchCaller& caller, const std::string& operation,
                                    const std::string& body, v1::Reply* reply) const;
  natsConnection* nats_;
  WatchOptions options_;
  mutable std::mutex mu_;
  std::condition_variable stop_;
  bool stopping_ = false;
  std::vector<std::weak_ptr<NotificationWatch>> watches_;
  std::thread keeper_;
};

}  // namespace coach::apps
