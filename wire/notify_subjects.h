// Where notifications travel on the bus: the JetStream streams and the
// subjects and consumers of each delivery channel. Shared by coachd's
// notifier, which publishes, and the delivery gateways (coach-deliver),
// which consume; see adapters/notifier.h for how the streams behave.
#pragma once

#include <string>
#include <string_view>

#include "schema/commands.pb.h"

namespace coach::actors {

// The work queue of notifications to deliver, and the dead letters.
inline constexpr std::string_view kNotifyStream = "COACH_NOTIFY";
inline constexpr std::string_view kDeadStream = "COACH_DEAD";

// "push", "email" or "sms" (unspecified: push).
std::string_view channel_word(v1::DeliveryChannel channel);
// "coach.notify.push.<user>", ... for a channel (unspecified: push).
std::string notify_subject(v1::DeliveryChannel channel, std::string_view user);
// "coach.notify.push.*": every user's notifications on a channel.
std::string notify_filter(v1::DeliveryChannel channel);
// "coach.dead.push.<user>", ...: where a notification that used up its
// attempts is kept.
std::string dead_subject(v1::DeliveryChannel channel, std::string_view user);
// "deliver-push", ...: the durable consumer of a channel.
std::string consumer_name(v1::DeliveryChannel channel);

// "coach.live.<user>": the user's live feed (issue 19). coachd publishes
// each stored nudge there as a NudgeRecord (protobuf) on core NATS, at most
// once and kept nowhere; coach-gateway streams it to the user's clients,
// which fill any gap by nudge.list after_position.
std::string live_subject(std::string_view user);

}  // namespace coach::actors
