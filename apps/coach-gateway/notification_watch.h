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
// the caller sees each once, in order of position. Each live message names
// the position of the user's nudge before it (LiveNotification): when that
// is above the last one handed out, one was missed (the live feed is at
// most once: a reconnect, a lost publish, two owners during a partition's
// handoff) and the watch ends unavailable, so that the client resumes
// from its last position and gets the missed one from the store.
//
// A watch holds at most `buffer` live notifications the client has not
// taken (besides what it replays); one more ends it resource_exhausted
// ("the client reads too slowly"), and the client resumes from its last
// position. An owner that still holds a watch `stuck_after` after it ended
// is told so once (on_stuck): its client reads nothing, not even the end.
// Every `recheck` the hub asks user.get again with the caller's token: an
// expired token (unauthenticated) or an erased user ends the watch with
// coach's error. Stopping the hub ends every watch unavailable.
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
  size_t buffer = 64;                            // live notifications waiting for the client
  std::chrono::milliseconds recheck{60000};      // the token asked again this often
  size_t max_watches = 1024;                     // open at once; more are refused busy
  size_t max_per_user = 16;                      // of one user; more are refused busy
  std::chrono::milliseconds stuck_after{10000};  // ended, still held: on_stuck
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
  // Called once (from the hub's thread) when the watch ended
  // `stuck_after` ago and its owner still holds it. Set it once, right
  // after opening.
  void on_stuck(std::function<void()> callback);
  // Ends the watch with `why` (e.g. the client left); idempotent.
  void end(v1::ErrorReply why);
  // The user whose feed this is (as coach named them).
  const std::string& user_id() const { return user_id_; }

 private:
  friend class WatchHub;
  NotificationWatch(WatchCaller caller, size_t buffer)
      : caller_(std::move(caller)), buffer_(buffer) {}
  static void on_message(natsConnection*, natsSubscription*, natsMsg* msg, void* closure);
  // Keeps order, drops what was handed out, ends the watch on a gap.
  void offer(v1::NudgeRecord record, uint64_t previous_position);
  void end_locked(v1::ErrorReply why);
  void changed();

  WatchCaller caller_;
  size_t buffer_;
  std::string user_id_;
  natsSubscription* subscription_ = nullptr;
  mutable std::mutex mu_;
  std::condition_variable wake_;
  std::deque<v1::NudgeRecord> waiting_;
  size_t replayed_ = 0;         // of waiting_, those from the store, in front
  bool opening_ = true;         // until the store's are merged in: no gap checks
  uint64_t last_position_ = 0;  // the highest position taken in
  std::optional<v1::ErrorReply> ended_;
  std::chrono::steady_clock::time_point ended_at_;
  std::function<void()> on_change_, on_stuck_;
  // The hub's, under its lock:
  std::chrono::steady_clock::time_point checked_at_;
  bool told_stuck_ = false;
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
  // invalid_argument for an after_position past the user's log.
  Opened open(WatchCaller caller);
  size_t open_watches() const;
  // Whether this gateway's bus identity may hear live feeds (role gateway):
  // a subscription nats-server refuses is otherwise silent. Blocks for a
  // round trip to nats-server.
  bool may_listen() const;

 private:
  size_t open_watches_locked() const;
  Opened open_reserved(WatchCaller caller);
  void keep();
  std::optional<v1::ErrorReply> ask(const WatchCaller& caller, const std::string& operation,
                                    const std::string& body, v1::Reply* reply) const;
  natsConnection* nats_;
  WatchOptions options_;
  mutable std::mutex mu_;
  std::condition_variable stop_;
  bool stopping_ = false;
  size_t opening_ = 0;  // opens under way: they count against max_watches
  std::vector<std::weak_ptr<NotificationWatch>> watches_;
  std::thread keeper_;
};

}  // namespace coach::apps
