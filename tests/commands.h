// Commands as the tests send them: the few the actor and decider tests
// build over and over.
#pragma once

#include <string>
#include <vector>

#include "schema/commands.pb.h"

namespace coach::test {

// user.register with `email`, time zone Europe/Berlin.
inline v1::Command register_user(const std::string& email = "ada@example.com") {
  v1::Command c;
  c.mutable_register_user()->set_email(email);
  c.mutable_register_user()->set_timezone("Europe/Berlin");
  return c;
}

// task.create titled `title`; `id` empty lets coach choose.
inline v1::Command create_task(const std::string& title, const std::string& id = "") {
  v1::Command c;
  c.mutable_task()->mutable_create()->set_title(title);
  c.mutable_task()->mutable_create()->set_task_id(id);
  return c;
}

// task.create titled `title` with `tags`.
inline v1::Command create_tagged_task(const std::string& title,
                                      const std::vector<std::string>& tags,
                                      const std::string& id = "") {
  auto c = create_task(title, id);
  for (const auto& tag : tags) c.mutable_task()->mutable_create()->add_tags(tag);
  return c;
}

// task.note: `text` appended to task `id`.
inline v1::Command note_task(const std::string& id, const std::string& text) {
  v1::Command c;
  c.mutable_task()->mutable_note()->set_task_id(id);
  c.mutable_task()->mutable_note()->set_text(text);
  return c;
}

inline v1::Command complete_task(const std::string& id) {
  v1::Command c;
  c.mutable_task()->mutable_complete()->set_task_id(id);
  return c;
}

inline v1::Command get_task(const std::string& id) {
  v1::Command c;
  c.mutable_get_task()->set_task_id(id);
  return c;
}

}  // namespace coach::test
