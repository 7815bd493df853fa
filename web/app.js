// coach's web client: plain JavaScript over the gateway's JSON mapping
// (docs/api.md, "JSON over HTTP") and its event stream of notifications.
// Served by coach-gateway itself; nothing is loaded from anywhere else.
// The token stays in this tab's sessionStorage and travels only in the
// Authorization header. Times are shown in the zone of the user's profile.
"use strict";

const SERVICE = "/coach.v1.CoachService/";
const $ = id => document.getElementById(id);
const state = { token: "", profile: null, zone: "UTC", view: "today", lastPosition: 0,
                feed: new Map(), stream: null };

// ---- talking to coach

class CoachError extends Error {
  constructor(code, message, status) {
    super(`${code}: ${message}`);
    this.code = code;
    this.status = status;
  }
}

async function call(method, body = {}) {
  let res;
  try {
    res = await fetch(SERVICE + method, {
      method: "POST",
      headers: { "Content-Type": "application/json", "Authorization": "Bearer " + state.token },
      body: JSON.stringify(body)
    });
  } catch (e) {
    throw new CoachError("unavailable", "the gateway cannot be reached", 0);
  }
  let reply = {};
  try {
    reply = await res.json();
  } catch (e) {
    throw new CoachError("internal", `the gateway answered ${res.status} without JSON`, res.status);
  }
  if (reply.error) throw new CoachError(reply.error.code, reply.error.message, res.status);
  return reply;
}

function showError(e) {
  $("status").textContent = "";
  $("error").textContent = e instanceof CoachError ? e.message : String(e.message || e);
}

function say(text) {
  $("error").textContent = "";
  $("status").textContent = text;
}

// Runs an action from the page: its error is shown, never thrown away.
async function act(what, done) {
  try {
    $("error").textContent = "";
    await what();
    if (done) say(done);
  } catch (e) {
    showError(e);
  }
}

const seconds = t => t ? Date.parse(t) : 0;
const iso = ms => new Date(ms).toISOString();

// ---- small DOM helpers

function el(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (k === "class") node.className = v;
    else if (k === "style") Object.assign(node.style, v);  // CSSOM: allowed by the page's CSP
    else if (k.startsWith("on")) node.addEventListener(k.slice(2), v);
    else if (v !== false && v !== undefined) node.setAttribute(k, v === true ? "" : v);
  }
  for (const c of children) if (c !== null && c !== undefined) node.append(c);
  return node;
}

function button(text, onclick, attrs = {}) {
  return el("button", { type: "button", onclick, ...attrs }, text);
}

// ---- weekly windows ("mon-fri 09:00-17:00; sat 10:00-12:00")

const DAYS = ["mon", "tue", "wed", "thu", "fri", "sat", "sun"];
const WEEKDAY = ["", "MONDAY", "TUESDAY", "WEDNESDAY", "THURSDAY", "FRIDAY", "SATURDAY", "SUNDAY"];

function minutes(text) {
  const m = /^(\d{1,2}):(\d{2})$/.exec(text);
  if (!m || +m[2] > 59 || +m[1] * 60 + +m[2] > 1440) throw new Error(`"${text}" is not a time like 09:00`);
  return +m[1] * 60 + +m[2];
}

function parseWindows(text) {
  const windows = [];
  for (const group of text.split(";").map(g => g.trim()).filter(Boolean)) {
    const m = /^(?:([a-z,\-]+)\s+)?([\d:,\-\s]+)$/.exec(group.toLowerCase());
    if (!m) throw new Error(`"${group}" is not like mon-fri 09:00-17:00`);
    let days = [1, 2, 3, 4, 5, 6, 7];
    if (m[1] && m[1] !== "daily") {
      days = [];
      for (const part of m[1].split(",")) {
        const [a, b] = part.split("-").map(d => DAYS.indexOf(d.slice(0, 3)) + 1);
        if (!a || (part.includes("-") && !b)) throw new Error(`"${part}" is not a day like mon or mon-fri`);
        for (let d = a; ; d = d % 7 + 1) {
          days.push(d);
          if (d === (b || a)) break;
        }
      }
    }
    for (const range of m[2].split(",").map(r => r.trim())) {
      const [from, to] = range.split("-").map(s => minutes(s.trim()));
      if (from === to) throw new Error(`"${range}" is empty`);
      for (const d of days) {
        if (from < to) windows.push({ weekday: WEEKDAY[d], start_minute: from, end_minute: to });
        else {  // crosses midnight
          windows.push({ weekday: WEEKDAY[d], start_minute: from, end_minute: 1440 });
          if (to > 0) windows.push({ weekday: WEEKDAY[d % 7 + 1], start_minute: 0, end_minute: to });
        }
      }
    }
  }
  return windows;
}

function showWindows(windows) {
  const hhmm = m => String(Math.floor(m / 60)).padStart(2, "0") + ":" + String(m % 60).padStart(2, "0");
  const byDay = DAYS.map((_, i) => (windows || []).filter(w => w.weekday === WEEKDAY[i + 1])
    .map(w => `${hhmm(w.start_minute || 0)}-${hhmm(w.end_minute || 0)}`).join(","));
  const groups = [];
  for (let i = 0; i < 7; ++i) {
    if (!byDay[i]) continue;
    let j = i;
    while (j + 1 < 7 && byDay[j + 1] === byDay[i]) ++j;
    groups.push(`${i === j ? DAYS[i] : DAYS[i] + "-" + DAYS[j]} ${byDay[i]}`);
    i = j;
  }
  return groups.join("; ");
}

// ---- signing in

function signedIn(profile) {
  state.profile = profile;
  state.zone = profile.user.timezone || "UTC";
  $("sign-in").hidden = true;
  $("register").hidden = true;
  $("nav").hidden = false;
  $("sign-out").hidden = false;
  startFeed();
  show(state.view);
}

async function signIn(token) {
  state.token = token;
  try {
    const reply = await call("UserGet");
    sessionStorage.setItem("coach-token", token);
    signedIn(reply.profile);
  } catch (e) {
    if (e.code === "not_found") {
      sessionStorage.setItem("coach-token", token);
      $("sign-in").hidden = true;
      $("register").hidden = false;
      $("register-zone").value = Intl.DateTimeFormat().resolvedOptions().timeZone || "UTC";
      $("register-zone").focus();
      return;
    }
    state.token = "";
    $("sign-in").hidden = false;
    showError(e);
  }
}

function signOut() {
  sessionStorage.removeItem("coach-token");
  location.reload();
}

// ---- views

const views = { today: showToday, tasks: showTasks, schedule: showSchedule, nudges: showNudges,
                insights: showInsights, preferences: showPreferences };

function show(view) {
  state.view = view;
  for (const name of Object.keys(views)) $("view-" + name).hidden = name !== view;
  for (const b of document.querySelectorAll("#nav button")) {
    if (b.dataset.view === view) b.setAttribute("aria-current", "page");
    else b.removeAttribute("aria-current");
  }
  act(views[view]);
}

function refresh() {
  act(views[state.view]);
}

// Every task that is not deleted or done, and the others on request.
async function tasks(statuses) {
  const all = [];
  let page_token = "";
  do {
    const reply = await call("TaskList", { statuses, page_size: 500, page_token });
    all.push(...((reply.task_list || {}).tasks || []));
    page_token = (reply.task_list || {}).next_page_token || "";
  } while (page_token);
  return all;
}

function due(task) {
  if (!task.due_at) return el("span", { class: "muted" }, "no due date");
  const late = seconds(task.due_at) < Date.now() && task.status !== "TASK_STATUS_COMPLETED";
  return el("time", { datetime: task.due_at, class: late ? "late" : "" },
            (late ? "overdue, " : "due ") + When.show(seconds(task.due_at), state.zone));
}

// One task with what can be done to it now.
function taskItem(task) {
  const actions = el("div", { class: "actions" });
  const name = task.title;
  const li = el("li", { class: "task", "data-task": task.id },
                el("div", { class: "what" }, el("strong", {}, task.title), " ", due(task),
                   task.snoozed_until ? el("span", { class: "muted" },
                     ` · snoozed until ${When.show(seconds(task.snoozed_until), state.zone)}`) : null,
                   task.estimated_minutes ? el("span", { class: "muted" }, ` · ${task.estimated_minutes} min`) : null),
                actions);
  const run = (method, body, done) => act(async () => {
    await call(method, { task_id: task.id, ...body });
    refresh();
  }, done);
  if (task.status === "TASK_STATUS_DELETED") {
    actions.append(button("Restore", () => run("TaskRestore", {}, `Restored "${name}"`),
                          { "aria-label": `Restore ${name}` }));
    return li;
  }
  if (task.status === "TASK_STATUS_COMPLETED") {
    actions.append(button("Reopen", () => run("TaskReopen", {}, `Reopened "${name}"`),
                          { "aria-label": `Reopen ${name}` }));
    return li;
  }
  actions.append(
    button("Done", () => run("TaskComplete", {}, `Completed "${name}"`), { "aria-label": `Complete ${name}`, class: "primary" }),
    button("Snooze", () => snoozeForm(li, task), { "aria-label": `Snooze ${name}` }),
    button("Edit", () => editForm(li, task), { "aria-label": `Edit ${name}` }),
    button("Delete", () => run("TaskDelete", {}, `Deleted "${name}": restore it under Deleted`),
           { "aria-label": `Delete ${name}` }));
  return li;
}

function inlineForm(li, fields, submitText, onsubmit) {
  const form = el("form", { class: "inline" }, ...fields,
                  el("button", { type: "submit" }, submitText), button("Cancel", () => refresh()));
  form.addEventListener("submit", e => {
    e.preventDefault();
    act(onsubmit);
  });
  li.querySelector(".actions").replaceWith(form);
  form.querySelector("input").focus();
}

function field(id, label, value, attrs = {}) {
  return el("span", { class: "field" }, el("label", { for: id }, label),
            el("input", { id, value: value ?? "", autocomplete: "off", ...attrs }));
}

function snoozeForm(li, task) {
  inlineForm(li, [field("snooze-until", "Until", "tomorrow 9am")], "Snooze", async () => {
    const until = When.parse($("snooze-until").value, Date.now(), state.zone, "start");
    await call("TaskSnooze", { task_id: task.id, until: iso(until) });
    say(`Snoozed "${task.title}" until ${When.show(until, state.zone)}`);
    refresh();
  });
}

function editForm(li, task) {
  const shown = task.due_at ? When.show(seconds(task.due_at), state.zone) : "";
  inlineForm(li, [field("edit-title", "Title", task.title, { required: true }),
                  field("edit-due", "Due", shown, { placeholder: "tomorrow 17:00 (empty: none)" }),
                  field("edit-estimate", "Minutes", task.estimated_minutes || "", { type: "number", min: 0, max: 10080 })],
             "Save", async () => {
    // Only what changed is sent: a due date edited is a signal coach learns from.
    const edit = { task_id: task.id };
    const title = $("edit-title").value.trim();
    if (title !== task.title) edit.title = title;
    const dueInput = $("edit-due").value.trim();
    if (!dueInput && task.due_at) edit.clear_due_at = true;
    else if (dueInput && dueInput !== shown) edit.due_at = iso(When.parse(dueInput, Date.now(), state.zone));
    const estimate = $("edit-estimate").value;
    if (estimate !== "" && +estimate !== (task.estimated_minutes || 0)) edit.estimated_minutes = +estimate;
    if (Object.keys(edit).length === 1) return refresh();  // nothing changed
    const reply = await call("TaskEdit", edit);
    say(`Saved "${reply.task.title}"`);
    refresh();
  });
}

function fill(list, items, empty) {
  list.replaceChildren(...(items.length ? items : [el("li", { class: "muted empty" }, empty)]));
}

async function showTasks() {
  const [open, done, deleted] = await Promise.all([
    tasks(["TASK_STATUS_PENDING", "TASK_STATUS_SNOOZED"]), tasks(["TASK_STATUS_COMPLETED"]),
    tasks(["TASK_STATUS_DELETED"])]);
  open.sort((a, b) => (seconds(a.due_at) || Infinity) - (seconds(b.due_at) || Infinity));
  fill($("open-tasks"), open.map(taskItem), "Nothing open. Add what is on your mind.");
  fill($("done-tasks"), done.map(taskItem), "Nothing done yet.");
  fill($("deleted-tasks"), deleted.map(taskItem), "Nothing deleted.");
}

function dayBounds(now) {
  const l = When.local(now, state.zone);
  const start = When.instant(l.y, l.m, l.d, 0, 0, 0, state.zone);
  const next = new Date(Date.UTC(l.y, l.m - 1, l.d + 1));
  return [start, When.instant(next.getUTCFullYear(), next.getUTCMonth() + 1, next.getUTCDate(), 0, 0, 0, state.zone)];
}

async function showToday() {
  const now = Date.now();
  const [start, end] = dayBounds(now);
  $("today-date").textContent = new Intl.DateTimeFormat("en-GB", { timeZone: state.zone, weekday: "long", day: "numeric", month: "long" }).format(new Date(now));
  const [open, plan] = await Promise.all([tasks(["TASK_STATUS_PENDING", "TASK_STATUS_SNOOZED"]),
                                          call("ScheduleGet", { horizon_days: 1 })]);
  const dueToday = open.filter(t => t.due_at && seconds(t.due_at) < end)
    .sort((a, b) => seconds(a.due_at) - seconds(b.due_at));
  fill($("today-tasks"), dueToday.map(taskItem), "Nothing due today.");
  const titles = new Map(open.map(t => [t.id, t.title]));
  const schedule = plan.schedule || {};
  const blocks = [...(schedule.accepted || []), ...(schedule.recommendations || [])]
    .filter(b => seconds(b.recommended_start) < end && seconds(b.recommended_due) > start)
    .sort((a, b) => seconds(a.recommended_start) - seconds(b.recommended_start));
  fill($("today-blocks"), blocks.map(b => el("li", {},
    `${When.time(seconds(b.recommended_start), state.zone)}–${When.time(seconds(b.recommended_due), state.zone)} `,
    el("strong", {}, titles.get(b.task_id) || "a task"), b.accepted ? " (accepted)" : " (suggested)")),
    "Nothing planned today.");
}

// The plan as a timeline: one row per local day, blocks placed by their
// local start and end on a 24-hour track.
async function showSchedule() {
  const [open, plan] = await Promise.all([tasks(["TASK_STATUS_PENDING", "TASK_STATUS_SNOOZED"]),
                                          call("ScheduleGet", { horizon_days: 7 })]);
  const titles = new Map(open.map(t => [t.id, t.title]));
  const schedule = plan.schedule || {};
  $("schedule-zone").textContent = `(times in ${state.zone})`;
  const acceptedMinutes = (schedule.accepted || []).reduce(
    (sum, b) => sum + (seconds(b.recommended_due) - seconds(b.recommended_start)) / 60000, 0);
  $("schedule-summary").textContent =
    `Next 7 days: ${Math.round(acceptedMinutes)} minutes accepted, ${schedule.planned_minutes || 0} more suggested, ` +
    `${schedule.free_minutes || 0} minutes of work time free.`;
  const blocks = [...(schedule.accepted || []).map(b => ({ ...b, accepted: true })),
                  ...(schedule.recommendations || [])]
    .sort((a, b) => seconds(a.recommended_start) - seconds(b.recommended_start));
  const days = new Map();
  for (const b of blocks) {
    const key = When.dayKey(seconds(b.recommended_start), state.zone);
    if (!days.has(key)) days.set(key, []);
    days.get(key).push(b);
  }
  const rows = [];
  for (const [key, list] of days) {
    const first = seconds(list[0].recommended_start);
    const label = new Intl.DateTimeFormat("en-GB", { timeZone: state.zone, weekday: "short", day: "numeric", month: "short" }).format(new Date(first));
    const track = el("div", { class: "track", "aria-hidden": "true" });
    for (const h of [6, 9, 12, 15, 18, 21]) track.append(el("span", { class: "hour", style: { left: `${h / 24 * 100}%` } }, `${h}`));
    const items = el("ul", { class: "day-blocks" });
    for (const b of list) {
      const from = seconds(b.recommended_start), to = seconds(b.recommended_due);
      const l = When.local(from, state.zone);
      const startMin = l.hh * 60 + l.mm;
      const length = Math.max(15, (to - from) / 60000);
      const title = titles.get(b.task_id) || "a task";
      const times = `${When.time(from, state.zone)}–${When.time(to, state.zone)}`;
      track.append(el("div", { class: "block" + (b.accepted ? " accepted" : ""),
                               style: { left: `${startMin / 1440 * 100}%`, width: `${Math.min(length, 1440 - startMin) / 1440 * 100}%` },
                               "data-block": b.id,
                               title: `${times} ${title}` }));
      const actions = b.accepted ? [el("span", { class: "badge ok" }, "accepted")] : [
        button("Accept", () => act(async () => {
          await call("ScheduleAccept", { recommendation_id: b.id, task_id: b.task_id, start: b.recommended_start, end: b.recommended_due });
          refresh();
        }, `Accepted ${times} for "${title}"`), { "aria-label": `Accept ${times} for ${title}`, class: "primary" }),
        button("Reject", () => act(async () => {
          await call("ScheduleReject", { recommendation_id: b.id, task_id: b.task_id, start: b.recommended_start, end: b.recommended_due });
          refresh();
        }, `Rejected ${times}: coach will avoid such hours`), { "aria-label": `Reject ${times} for ${title}` })];
      items.append(el("li", { class: "slot", "data-block": b.id },
                      el("time", { datetime: b.recommended_start, class: "times" }, times), " ",
                      el("strong", {}, title), " ",
                      el("span", { class: "muted" }, `${Math.round((b.confidence_score || 0) * 100)}% sure`),
                      el("span", { class: "actions" }, ...actions)));
    }
    rows.push(el("div", { class: "day", "data-day": key }, el("h3", {}, label), track, items));
  }
  $("timeline").replaceChildren(...(rows.length ? rows : [el("p", { class: "muted" }, "Nothing to plan: add tasks with estimates and due dates.")]));
  fill($("at-risk"), (schedule.at_risk || []).map(r => el("li", {}, el("strong", {}, r.title),
    ` is ${r.minutes_short} minutes short before it is due. ${r.suggestion || ""}`)), "Nothing at risk.");
}

// ---- nudges, live

const RATINGS = ["", "useless", "not much use", "somewhat useful", "useful", "very useful"];

function nudgeItem(record) {
  const nudge = record.nudge || {};
  const rating = el("div", { class: "rating", role: "group", "aria-label": "How useful was this?" });
  for (let n = 1; n <= 5; ++n) {
    rating.append(button(String(n), () => act(async () => {
      await call("NudgeRate", { nudge_id: nudge.id, usefulness: n });
      record.usefulness = n;
      for (const b of rating.querySelectorAll("button")) b.setAttribute("aria-pressed", String(+b.textContent === n));
    }, `Rated ${n} of 5: thank you`), { "aria-label": `${n} of 5: ${RATINGS[n]}`, "aria-pressed": String(record.usefulness === n) }));
  }
  return el("li", { class: "nudge", "data-nudge": nudge.id, "data-position": record.position || "0" },
            el("p", { class: "text" }, nudge.generated_text || ""),
            el("p", { class: "muted" }, [
              nudge.created_at ? When.show(seconds(nudge.created_at), state.zone) : "",
              (nudge.trigger || "on request").replace(/_/g, " "),
              (nudge.mode || "").replace("COACHING_MODE_", "").toLowerCase()].filter(Boolean).join(" · ")),
            rating);
}

function addToFeed(record) {
  const id = (record.nudge || {}).id;
  if (!id || state.feed.has(id)) return;
  state.feed.set(id, record);
  state.lastPosition = Math.max(state.lastPosition, +(record.position || 0));
  const feed = $("feed");
  feed.querySelector(".empty")?.remove();
  feed.prepend(nudgeItem(record));
  if (state.view !== "nudges") {
    const badge = $("nudge-badge");
    badge.textContent = String(+(badge.textContent || 0) + 1);
    badge.hidden = false;
  }
}

async function showNudges() {
  $("nudge-badge").hidden = true;
  $("nudge-badge").textContent = "";
  if (!$("feed").children.length) fill($("feed"), [], "No nudges yet.");
}

function feedState(text, kind) {
  $("feed-state").textContent = text;
  $("feed-state").className = "badge " + kind;
}

// The event stream (POST, so the token stays in a header): resumed from
// the last position seen after any break, with a growing pause. It stops
// for good when coach says the token or the user is gone.
const FINAL = ["unauthenticated", "permission_denied", "not_found", "invalid_argument"];

async function startFeed() {
  if (state.stream) return;
  state.stream = new AbortController();
  const first = await call("NudgeList", { limit: 20 }).catch(() => ({}));
  for (const r of ((first.nudge_list || {}).nudges || []).slice().reverse()) addToFeed(r);
  let pause = 500;
  for (;;) {
    const opened = Date.now();
    let ending = null;
    try {
      const res = await fetch(SERVICE + "WatchNotifications", {
        method: "POST", signal: state.stream.signal,
        headers: { "Content-Type": "application/json", "Authorization": "Bearer " + state.token },
        body: JSON.stringify({ after_position: String(state.lastPosition) })
      });
      if (!res.ok) {
        const reply = await res.json().catch(() => ({}));
        ending = reply.error || { code: "unavailable", message: `status ${res.status}` };
      } else {
        feedState("live", "ok");
        const reader = res.body.getReader();
        const decoder = new TextDecoder();
        let buffer = "";
        for (;;) {
          const { value, done } = await reader.read();
          if (done) break;
          buffer += decoder.decode(value, { stream: true });
          let cut;
          while ((cut = buffer.indexOf("\n\n")) >= 0) {
            const event = buffer.slice(0, cut);
            buffer = buffer.slice(cut + 2);
            const fields = {};
            for (const line of event.split("\n")) {
              const colon = line.indexOf(":");
              if (colon > 0) fields[line.slice(0, colon)] = line.slice(colon + 1).trimStart();
            }
            if (fields.event === "nudge") addToFeed(JSON.parse(fields.data));
            if (fields.event === "end") ending = (JSON.parse(fields.data) || {}).error;
          }
        }
      }
    } catch (e) {
      if (state.stream.signal.aborted) return;
    }
    if (ending && FINAL.includes(ending.code)) {
      feedState("stopped", "bad");
      return showError(new CoachError(ending.code, ending.message, 0));
    }
    // A stream that lasted a while starts the pauses over; quick ends grow them.
    pause = Date.now() - opened > 30000 ? 500 : Math.min(pause * 2, 15000);
    feedState("reconnecting", "warn");
    await new Promise(r => setTimeout(r, pause));
  }
}

async function showInsights() {
  const reply = await call("UserInsights");
  const insights = reply.insights || {};
  $("insights-summary").textContent = insights.summary || "";
  fill($("insights"), (insights.items || []).map(i => el("li", {}, i.explanation || i.name)),
       insights.behavioral_tracking_enabled ? "Nothing learned yet: coach needs a few completed tasks."
                                            : "Behavioral tracking is off: turn it on under Preferences to see insights.");
  // The user's own success metrics, week by week and day by day
  // (docs/metrics.md).
  showOwnRows("own-weeks", insights.weeks || [], w => w.week);
  showOwnRows("own-days", insights.days || [], d => d.day);
}

// Rows of the user's own figures into table body `id` (its box hidden when
// there are none); the counts are absent from the JSON when zero.
function showOwnRows(id, rows, name) {
  const n = v => Number(v || 0);
  $(id).replaceChildren(...rows.map(w => el("tr", {},
    el("td", {}, name(w)), el("td", {}, String(n(w.created))),
    el("td", {}, `${n(w.completed)} of ${n(w.due)}`), el("td", {}, String(n(w.overdue))),
    el("td", {}, String(n(w.snoozes))),
    el("td", {}, `${n(w.nudges_engaged)} of ${n(w.nudges_delivered)}`))));
  $(`${id}-box`).hidden = rows.length === 0;
}

async function showPreferences() {
  const reply = await call("PreferencesGet");
  const profile = reply.profile;
  state.profile = profile;
  const p = profile.preferences || {};
  $("pref-zone").value = profile.user.timezone || "";
  $("pref-work").value = showWindows((profile.user.work_hours || {}).windows);
  $("pref-window").value = showWindows((p.notification_window || {}).windows);
  $("pref-mode").value = p.coaching_mode || "COACHING_MODE_ENCOURAGEMENT";
  $("pref-persona").value = (profile.persona || {}).persona_type || "PERSONA_TYPE_COACH";
  $("pref-humor").value = p.humor_intensity ?? 2;
  $("pref-humor-shown").textContent = $("pref-humor").value;
  $("pref-cap").value = p.daily_nudge_cap || 3;
  $("pref-nudges").checked = !!p.nudges_enabled;
  $("pref-tracking").checked = !!p.behavioral_tracking_enabled;
  $("pref-adapt").checked = !!(profile.persona || {}).adaptation_enabled;
}

async function savePreferences() {
  const zone = $("pref-zone").value.trim();
  if (!When.knownZone(zone)) throw new Error(`"${zone}" is not a time zone name like Europe/Berlin`);
  const reply = await call("PreferencesSet", {
    timezone: zone,
    work_hours: { windows: parseWindows($("pref-work").value) },
    notification_window: { windows: parseWindows($("pref-window").value) },
    coaching_mode: $("pref-mode").value,
    persona_type: $("pref-persona").value,
    humor_intensity: +$("pref-humor").value,
    daily_nudge_cap: +$("pref-cap").value,
    nudges_enabled: $("pref-nudges").checked,
    behavioral_tracking_enabled: $("pref-tracking").checked,
    adaptation_enabled: $("pref-adapt").checked
  });
  state.profile = reply.profile;
  state.zone = reply.profile.user.timezone;
  say("Preferences saved.");
}

// ---- wiring

function previewDue() {
  const text = $("new-due").value.trim();
  if (!text) return ($("new-due-shown").textContent = "");
  try {
    $("new-due-shown").textContent = "Due " + When.show(When.parse(text, Date.now(), state.zone), state.zone);
  } catch (e) {
    $("new-due-shown").textContent = e.message;
  }
}

async function addTask() {
  const create = { title: $("new-title").value.trim(), priority: +$("new-priority").value };
  const dueText = $("new-due").value.trim();
  if (dueText) create.due_at = iso(When.parse(dueText, Date.now(), state.zone));
  if ($("new-estimate").value) create.estimated_minutes = +$("new-estimate").value;
  const reply = await call("TaskCreate", create);
  $("add-task").reset();
  $("new-due-shown").textContent = "";
  say(`Added "${reply.task.title}"` + (reply.task.due_at ? `, due ${When.show(seconds(reply.task.due_at), state.zone)}` : ""));
  $("new-title").focus();
  refresh();
}

function onSubmit(id, handler) {
  $(id).addEventListener("submit", e => {
    e.preventDefault();
    act(handler);
  });
}

window.addEventListener("DOMContentLoaded", () => {
  try {
    $("zones").replaceChildren(...Intl.supportedValuesOf("timeZone").map(z => el("option", { value: z })));
  } catch (e) { /* an older browser: free text */ }
  for (const b of document.querySelectorAll("#nav button")) b.addEventListener("click", () => show(b.dataset.view));
  $("sign-out").addEventListener("click", signOut);
  onSubmit("sign-in", () => signIn($("token").value.trim()));
  onSubmit("register", async () => {
    const zone = $("register-zone").value.trim();
    if (!When.knownZone(zone)) throw new Error(`"${zone}" is not a time zone name like Europe/Berlin`);
    const body = { timezone: zone };
    if ($("register-email").value) body.email = $("register-email").value;
    const reply = await call("UserRegister", body);
    signedIn(reply.profile);
  });
  onSubmit("add-task", addTask);
  onSubmit("preferences", savePreferences);
  $("new-due").addEventListener("input", previewDue);
  $("pref-humor").addEventListener("input", () => ($("pref-humor-shown").textContent = $("pref-humor").value));
  $("nudge-now").addEventListener("click", () => act(async () => {
    await call("NudgeNow");
    say("A nudge is on its way to your feed.");
  }));
  // A token in the address (#token=...) is taken and removed from it.
  const fromHash = new URLSearchParams(location.hash.slice(1)).get("token");
  if (fromHash) history.replaceState(null, "", location.pathname);
  const token = fromHash || sessionStorage.getItem("coach-token");
  if (token) signIn(token);
  else $("sign-in").hidden = false;
});
