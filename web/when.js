// Dates as people type them, in the user's own time zone (the one in their
// coach profile, not necessarily the browser's): the grammar of coachctl's
// apps/coachctl/when.h, so a date means the same typed here or there.
//
//   now; today, tomorrow, yesterday; mon..sun, monday..sunday, next monday
//   (the next such day after today); eod, eow, eom (23:59:59 of today, of
//   Sunday, of the month's last day); +2d, +3h, +90m, +1w, +1h30m, and
//   "in 3 days", "in 2 hours", "in 45 minutes"; 2026-12-02 [17:00];
//   2026-12-02T17:00; RFC 3339 with Z or an offset; 17:00, 9am, 5:30pm
//   (the next such local time). A day form may be followed by a time
//   ("tomorrow 17:00", "fri 5pm"). A day without a time is its last second
//   for a due date ("end") and its first for a snooze ("start").
//
// Local times follow the zone's rules on that day: a time skipped by a
// spring-forward change moves on by the gap (02:30 -> 03:30), one repeated
// by a fall-back change is the earlier instant. Written for browsers'
// Intl alone: no library, nothing loaded.
"use strict";

const When = (() => {
  const DAY = 86400000;
  const WEEKDAYS = ["mon", "tue", "wed", "thu", "fri", "sat", "sun"];
  const WEEKDAY_NAMES = {
    mon: 1, monday: 1, tue: 2, tues: 2, tuesday: 2, wed: 3, wednesday: 3, thu: 4, thur: 4,
    thurs: 4, thursday: 4, fri: 5, friday: 5, sat: 6, saturday: 6, sun: 7, sunday: 7
  };
  const formatters = new Map();

  function formatter(zone) {
    if (!formatters.has(zone)) {
      formatters.set(zone, new Intl.DateTimeFormat("en-US", {
        timeZone: zone, hourCycle: "h23", year: "numeric", month: "2-digit", day: "2-digit",
        hour: "2-digit", minute: "2-digit", second: "2-digit", weekday: "short"
      }));
    }
    return formatters.get(zone);
  }

  // Whether `zone` is an IANA name this browser knows.
  function knownZone(zone) {
    try {
      formatter(zone);
      return true;
    } catch (e) {
      formatters.delete(zone);
      return false;
    }
  }

  // The wall clock in `zone` at instant `t` (ms): y, m (1-12), d, hh, mm,
  // ss, weekday (1 Monday .. 7 Sunday).
  function local(t, zone) {
    const parts = {};
    for (const p of formatter(zone).formatToParts(new Date(t))) parts[p.type] = p.value;
    return {
      y: +parts.year, m: +parts.month, d: +parts.day, hh: +parts.hour % 24, mm: +parts.minute,
      ss: +parts.second, weekday: WEEKDAYS.indexOf(parts.weekday.toLowerCase().slice(0, 3)) + 1
    };
  }

  function offset(t, zone) {  // local minus UTC, ms
    const l = local(t, zone);
    return Date.UTC(l.y, l.m - 1, l.d, l.hh, l.mm, l.ss) - Math.floor(t / 1000) * 1000;
  }

  // The instant of a wall-clock time in `zone` (see the rules above).
  function instant(y, m, d, hh, mm, ss, zone) {
    const wall = Date.UTC(y, m - 1, d, hh, mm, ss);
    const before = wall - offset(wall - DAY, zone), after = wall - offset(wall + DAY, zone);
    const fits = [before, after].filter(c => {
      const l = local(c, zone);
      return Date.UTC(l.y, l.m - 1, l.d, l.hh, l.mm, l.ss) === wall;
    });
    if (fits.length) return Math.min(...fits);
    return before;  // in a gap: the earlier offset lands past it by the gap
  }

  // Adds `days` to a calendar date; {y, m, d}.
  function addDays(y, m, d, days) {
    const t = new Date(Date.UTC(y, m - 1, d + days));
    return { y: t.getUTCFullYear(), m: t.getUTCMonth() + 1, d: t.getUTCDate() };
  }

  const UNIT_MS = { w: 7 * DAY, d: DAY, h: 3600000, m: 60000 };

  // "1h30m", "2d", "45" (minutes) -> ms, or null.
  function duration(text) {
    if (/^\d+$/.test(text)) return +text * 60000;
    if (!/^(\d+[wdhm])+$/.test(text)) return null;
    let total = 0;
    for (const [, n, unit] of text.matchAll(/(\d+)([wdhm])/g)) total += +n * UNIT_MS[unit];
    return total;
  }

  // "17:00", "9am", "5:30pm" -> [hh, mm], or null.
  function clock(text) {
    let match = /^(\d{1,2}):(\d{2})$/.exec(text);
    if (match && +match[1] < 24 && +match[2] < 60) return [+match[1], +match[2]];
    match = /^(\d{1,2})(?::(\d{2}))?\s*(am|pm)$/.exec(text);
    if (match && +match[1] >= 1 && +match[1] <= 12 && (match[2] || "0") < 60) {
      return [(+match[1] % 12) + (match[3] === "pm" ? 12 : 0), +(match[2] || 0)];
    }
    return null;
  }

  // A day form -> {y, m, d} or {end: true, y, m, d} for eod/eow/eom; null.
  function day(text, today) {
    const { y, m, d, weekday } = today;
    if (text === "today" || text === "eod") return { y, m, d };
    if (text === "tomorrow") return addDays(y, m, d, 1);
    if (text === "yesterday") return addDays(y, m, d, -1);
    if (text === "eow") return addDays(y, m, d, 7 - weekday);
    if (text === "eom") return addDays(y, m + 1, 1, -1);
    const index = WEEKDAY_NAMES[text.replace(/^next /, "")];
    if (index) return addDays(y, m, d, ((index - weekday + 7) % 7) || 7);
    const iso = /^(\d{4})-(\d{2})-(\d{2})$/.exec(text);
    if (iso) {
      const t = new Date(Date.UTC(+iso[1], +iso[2] - 1, +iso[3]));
      if (t.getUTCMonth() + 1 !== +iso[2] || t.getUTCDate() !== +iso[3]) return null;
      return { y: +iso[1], m: +iso[2], d: +iso[3] };
    }
    return null;
  }

  // Parses `input` at `now` (ms) in `zone`; `kind` "end" (a due date) or
  // "start" (a snooze's end). The instant in ms, or throws an Error whose
  // message says what is understood.
  function parse(input, now, zone, kind = "end") {
    const text = String(input).trim().toLowerCase().replace(/\s+/g, " ");
    if (!text) throw new Error("enter a date, e.g. tomorrow 17:00");
    if (!knownZone(zone)) throw new Error("unknown time zone " + zone);
    if (text === "now") return now;
    const rfc = /^\d{4}-\d{2}-\d{2}t\d{2}:\d{2}(:\d{2}(\.\d+)?)?(z|[+-]\d{2}:\d{2})$/.exec(text);
    if (rfc) return Date.parse(text.toUpperCase());
    let match = /^\+(\S+)$/.exec(text);
    if (match) {
      const ms = duration(match[1]);
      if (ms === null || ms <= 0 || ms > 366 * DAY) throw new Error("a duration is like +2d, +3h or +1h30m");
      return now + ms;
    }
    match = /^in (\d+) ?(minute|minutes|min|hour|hours|day|days|week|weeks)$/.exec(text);
    if (match) {
      const unit = { min: "m", minute: "m", hour: "h", day: "d", week: "w" }[match[2].replace(/s$/, "")];
      return now + +match[1] * UNIT_MS[unit];
    }
    const today = local(now, zone);
    const at = clock(text);
    if (at) {  // the next such local time
      const t = instant(today.y, today.m, today.d, at[0], at[1], 0, zone);
      if (t > now) return t;
      const next = addDays(today.y, today.m, today.d, 1);
      return instant(next.y, next.m, next.d, at[0], at[1], 0, zone);
    }
    const isoTime = /^(\d{4}-\d{2}-\d{2})[t ](\d{1,2}:\d{2})$/.exec(text);
    const split = isoTime ? [isoTime[1], isoTime[2]] : text.split(/ (?=[\d])/);
    const dayText = split.length === 2 ? split[0] : text;
    const date = day(dayText, today);
    if (!date) {
      throw new Error(`"${input}" is not a date coach understands: try tomorrow 17:00, fri 5pm, ` +
                      "+2d, in 3 days or 2026-12-02 09:00");
    }
    if (split.length === 2 && !/^eo[dwm]$/.test(dayText)) {
      const time = clock(split[1]);
      if (!time) throw new Error(`"${split[1]}" is not a time: try 17:00 or 5pm`);
      return instant(date.y, date.m, date.d, time[0], time[1], 0, zone);
    }
    if (kind === "start" && !/^eo[dwm]$/.test(dayText)) return instant(date.y, date.m, date.d, 0, 0, 0, zone);
    return instant(date.y, date.m, date.d, 23, 59, 59, zone);
  }

  // "Sat 28 Mar, 17:00" in `zone` (with the year when not this year's).
  function show(t, zone, now = Date.now()) {
    const options = { timeZone: zone, weekday: "short", day: "numeric", month: "short",
                      hour: "2-digit", minute: "2-digit", hourCycle: "h23" };
    if (local(t, zone).y !== local(now, zone).y) options.year = "numeric";
    return new Intl.DateTimeFormat("en-GB", options).format(new Date(t));
  }

  // "17:00" in `zone`.
  function time(t, zone) {
    const l = local(t, zone);
    return String(l.hh).padStart(2, "0") + ":" + String(l.mm).padStart(2, "0");
  }

  // "2026-03-28" in `zone`: the local day of `t`, for grouping.
  function dayKey(t, zone) {
    const l = local(t, zone);
    return `${l.y}-${String(l.m).padStart(2, "0")}-${String(l.d).padStart(2, "0")}`;
  }

  return { parse, show, time, dayKey, local, instant, knownZone };
})();
