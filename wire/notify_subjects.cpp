#include "wire/notify_subjects.h"

namespace coach::actors {

std::string_view channel_word(v1::DeliveryChannel channel) {
  switch (channel) {
    case v1::DELIVERY_CHANNEL_EMAIL:
      return "email";
    case v1::DELIVERY_CHANNEL_SMS:
      return "sms";
    default:
      return "push";
  }
}

std::string notify_subject(v1::DeliveryChannel channel, std::string_view user) {
  return "coach.notify." + std::string(channel_word(channel)) + "." + std::string(user);
}

std::string notify_filter(v1::DeliveryChannel channel) {
  return notify_subject(channel, "*");
}

std::string dead_subject(v1::DeliveryChannel channel, std::string_view user) {
  return "coach.dead." + std::string(channel_word(channel)) + "." + std::string(user);
}

std::string consumer_name(v1::DeliveryChannel channel) {
  return "deliver-" + std::string(channel_word(channel));
}

std::string live_subject(std::string_view user) {
  return "coach.live." + std::string(user);
}

}  // namespace coach::actors
