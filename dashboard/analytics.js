// coach analytics page: asks GET /api/analytics/metrics (analyst or admin
// bearer token) for the success metrics of the node's last full batch run
// and draws them: weekly lines, the retention cohorts as a heatmap, and the
// nudge trial's effect by trigger and mode with its 90% intervals. The
// charts are plain SVG drawn here; nothing is loaded from anywhere else.
// Definitions: docs/metrics.md.
'use strict';

const TOKEN_KEY = 'coach-analytics-token';
const $ = (id) => document.getElementById(id);
const num = (v) => Number(v ?? 0);  // absent fields are zeros in protobuf JSON
const SVG = 'http://www.w3.org/2000/svg';

// The weekly rates drawn as lines, with their colours.
const RATES = [
  { key: 'completion_rate', label: 'completion rate', color: '#1f8a4c' },
  { key: 'overdue_share', label: 'overdue share', color: '#c53030' },
  { key: 'snooze_rate', label: 'snooze rate', color: '#b7791f' },
  { key: 'nudge_engagement', label: 'nudge engagement', color: '#2b6cb0' },
  { key: 'misfire_rate', label: 'misfire rate', color: '#805ad5' },
];

function percent(v, digits = 0) { return v === undefined || v === null ? '–' : (100 * v).toFixed(digits) + '%'; }
function signedPercent(v) { return v === undefined ? '–' : (v >= 0 ? '+' : '') + (100 * v).toFixed(1) + ' pt'; }
function share(part, whole) { return whole ? percent(part / whole) : '–'; }
function setText(id, text) { $(id).textContent = text; }
function enumName(v, prefix) { return String(v || '').replace(prefix, '').toLowerCase() || '–'; }

function element(name, attributes, text) {
  const el = document.createElementNS(SVG, name);
  for (const [k, v] of Object.entries(attributes)) el.setAttribute(k, v);
  if (text !== undefined) el.textContent = text;
  return el;
}

// Rows of cells (text, or {text, background}); an empty table says so.
function fillTable(id, rows) {
  const body = $(id);
  if (!rows.length) {
    const td = Object.assign(document.createElement('td'), {
      className: 'muted', colSpan: 12, textContent: 'no group of enough users' });
    td.dataset.empty = '';
    const tr = document.createElement('tr');
    tr.appendChild(td);
    return body.replaceChildren(tr);
  }
  body.replaceChildren(...rows.map((cells) => {
    const tr = document.createElement('tr');
    for (const c of cells) {
      const td = document.createElement('td');
      if (typeof c === 'object' && c !== null) {
        td.textContent = c.text;
        // Through the CSSOM: the page's CSP refuses inline style attributes.
        if (c.background) td.style.backgroundColor = c.background;
      } else {
        td.textContent = String(c);
      }
      tr.appendChild(td);
    }
    return tr;
  }));
}

// A line chart of `series` ({label, color, values: number|undefined per
// week}) over `weeks`, y from 0 to yMax: a polyline per run of weeks with
// values, a gap where a value is absent, a lone point as a dot.
function lineChart(svg, weeks, series, yMax, yLabel) {
  const { width: W, height: H } = svg.viewBox.baseVal;
  const left = 44, right = 12, top = 10, bottom = 28;
  const x = (i) => left + (weeks.length < 2 ? (W - left - right) / 2 : i * (W - left - right) / (weeks.length - 1));
  const y = (v) => top + (H - top - bottom) * (1 - v / yMax);
  svg.replaceChildren();
  for (let k = 0; k <= 4; k++) {
    const v = yMax * k / 4;
    svg.appendChild(element('line', { class: 'grid', x1: left, x2: W - right, y1: y(v), y2: y(v) }));
    svg.appendChild(element('text', { x: left - 4, y: y(v) + 4, 'text-anchor': 'end' }, yLabel(v)));
  }
  const every = Math.max(1, Math.ceil(weeks.length / Math.floor(W / 80)));
  weeks.forEach((w, i) => {
    if (i % every === 0 || i === weeks.length - 1)
      svg.appendChild(element('text', { x: x(i), y: H - 8, 'text-anchor': 'middle' }, w));
  });
  for (const s of series) {
    // One polyline per run of weeks with a value.
    let run = [];
    const flush = () => {
      if (run.length === 1) {
        const [cx, cy] = run[0].split(',');
        svg.appendChild(element('circle', { 'data-series': s.key, cx, cy, r: 3, fill: s.color }));
      } else if (run.length > 1) {
        svg.appendChild(element('polyline', {
          'data-series': s.key, stroke: s.color, points: run.join(' ') }));
      }
      run = [];
    };
    s.values.forEach((v, i) => {
      if (v === undefined || v === null) return flush();
      run.push(`${x(i).toFixed(1)},${y(Math.min(v, yMax)).toFixed(1)}`);
    });
    flush();
  }
}

// The Monday (UTC milliseconds) of ISO week "2026-W10", and back.
function mondayOf(name) {
  const [year, week] = name.split('-W').map(Number);
  const jan4 = Date.UTC(year, 0, 4);
  const weekday = (new Date(jan4).getUTCDay() + 6) % 7;  // Monday 0
  return jan4 - weekday * 86400000 + (week - 1) * 7 * 86400000;
}
function isoWeekName(monday) {
  const thursday = new Date(monday + 3 * 86400000);
  const year = thursday.getUTCFullYear();
  const week = 1 + Math.round((monday - mondayOf(`${year}-W01`)) / (7 * 86400000));
  return `${year}-W${String(week).padStart(2, '0')}`;
}

// Every ISO week from the report's first to its last (the last 520 at
// most): weeks left out (under k active users) stay on the axis as gaps.
const WEEK_MS = 7 * 86400000, MAX_AXIS_WEEKS = 520;
function weekAxis(weeks) {
  if (!weeks.length) return [];
  const names = [];
  const last = mondayOf(weeks[weeks.length - 1].week);
  const first = Math.max(mondayOf(weeks[0].week), last - (MAX_AXIS_WEEKS - 1) * WEEK_MS);
  for (let m = first; m <= last; m += WEEK_MS) names.push(isoWeekName(m));
  return names;
}

// A round top for an axis of four steps of 1, 2 or 5 times a power of ten.
function niceTop(max) {
  const raw = Math.max(1, max / 4);
  const power = Math.pow(10, Math.floor(Math.log10(raw)));
  const step = [1, 2, 5, 10].map((k) => k * power).find((s) => s >= raw);
  return 4 * step;
}

function drawWeeks(report) {
  const weeks = report.weeks || [];
  const axis = weekAxis(weeks);
  const byName = new Map(weeks.map((w) => [w.week, w]));
  const spansYears = axis.length && axis[0].slice(0, 4) !== axis[axis.length - 1].slice(0, 4);
  const labels = axis.map((n) => spansYears ? n.slice(2) : n.slice(5));
  const rates = RATES.map((r) => ({ ...r, values: axis.map((n) => (byName.get(n) || {})[r.key]) }));
  // Snoozes per task created may pass 100%.
  const top = Math.max(1, Math.ceil(4 * Math.max(0, ...rates.flatMap((r) => r.values)
    .filter((v) => v !== undefined))) / 4);
  lineChart($('weekly-rates'), labels, rates, top, (v) => percent(v));
  const active = axis.map((n) => byName.has(n) ? num(byName.get(n).active_users) : undefined);
  lineChart($('weekly-active'), labels, [{ key: 'active_users', color: '#2b6cb0', values: active }],
    niceTop(Math.max(5, ...active.filter((v) => v !== undefined))), (v) => v.toFixed(0));
  $('weekly-legend').replaceChildren(...RATES.map((r) => {
    const span = document.createElement('span');
    span.style.setProperty('--swatch', r.color);
    span.textContent = r.label;
    return span;
  }));
  fillTable('weeks', weeks.map((w) => [w.week, num(w.users), num(w.active_users), num(w.due),
    num(w.completed), num(w.overdue), num(w.snoozes), num(w.long_snooze_chains),
    num(w.nudges_delivered), num(w.nudges_engaged), num(w.misfires)]));
}

// Cohorts as rows, weeks since the first as columns (at most COHORT_WEEKS),
// each cell shaded by its share.
const COHORT_WEEKS = 12;
function drawCohorts(report) {
  const cohorts = report.cohorts || [];
  const span = Math.min(COHORT_WEEKS, Math.max(1, ...cohorts.map((c) => (c.retained || []).length)));
  const head = document.createElement('tr');
  for (const h of ['cohort', 'users', ...Array.from({ length: span }, (_, k) => `+${k}`), 'drop-off'])
    head.appendChild(Object.assign(document.createElement('th'), { textContent: h }));
  $('cohort-head').replaceChildren(head);
  fillTable('cohorts', cohorts.map((c) => {
    const cells = [c.week, num(c.users)];
    for (let k = 0; k < span; k++) {
      const v = (c.retained || [])[k];
      cells.push(v === undefined ? '' : {
        text: percent(v), background: `rgba(43, 108, 176, ${(0.1 + 0.8 * v).toFixed(2)})` });
    }
    cells.push(share(num(c.dropped_off), num(c.dropoff_known)));
    return cells;
  }));
}

function groupLabel(group) {
  return group.replace(/^(mode|trigger):/, '$1: ');
}

// A forest plot: one row per group, its estimate and 90% interval against
// a line at zero effect.
function drawEffects(report) {
  const effects = report.effects || [];
  const svg = $('effect-plot');
  const rowH = 22, left = 200, right = 20, W = 640;
  const H = Math.max(60, 30 + rowH * effects.length);
  svg.setAttribute('viewBox', `0 0 ${W} ${H}`);
  svg.replaceChildren();
  const bounds = effects.flatMap((e) => [e.low90, e.high90, e.effect]).filter((v) => v !== undefined);
  const reach = Math.max(0.1, ...bounds.map(Math.abs));
  const x = (v) => left + (W - left - right) * (v + reach) / (2 * reach);
  for (const v of [-reach, 0, reach]) {
    svg.appendChild(element('line', { class: v === 0 ? 'axis' : 'grid', x1: x(v), x2: x(v), y1: 4, y2: H - 20 }));
    svg.appendChild(element('text', { x: x(v), y: H - 6, 'text-anchor': 'middle' }, signedPercent(v)));
  }
  effects.forEach((e, i) => {
    const y = 16 + rowH * i;
    svg.appendChild(element('text', { x: 4, y: y + 4 }, groupLabel(e.group)));
    if (e.low90 !== undefined && e.high90 !== undefined)
      svg.appendChild(element('line', { class: 'interval', 'data-group': e.group,
        x1: x(e.low90), x2: x(e.high90), y1: y, y2: y }));
    if (e.effect !== undefined)
      svg.appendChild(element('circle', { class: 'estimate', cx: x(e.effect), cy: y, r: 4 }));
  });
  fillTable('effects', effects.map((e) => [groupLabel(e.group), num(e.users),
    num(e.sent), share(num(e.acted_sent), num(e.sent)),
    num(e.held_back), share(num(e.acted_held_back), num(e.held_back)),
    signedPercent(e.effect),
    e.low90 === undefined ? '–' : `${signedPercent(e.low90)} to ${signedPercent(e.high90)}`]));
}

function drawTables(report) {
  fillTable('ratings', (report.ratings || []).map((r) => [enumName(r.mode, 'COACHING_MODE_'),
    enumName(r.persona, 'PERSONA_TYPE_'), num(r.users), num(r.ratings),
    num(r.mean_usefulness).toFixed(2)]));
  fillTable('personas', (report.personas || []).map((p) => [enumName(p.persona, 'PERSONA_TYPE_'),
    num(p.users), num(p.delivered), num(p.engaged), share(num(p.engaged), num(p.delivered))]));
}

function draw(report) {
  setText('report-to', report.to ? new Date(report.to).toLocaleString() : '–');
  setText('report-users', num(report.users).toLocaleString('en-US'));
  setText('report-suppressed', num(report.suppressed).toLocaleString('en-US'));
  setText('report-k', num(report.min_users));
  const partitions = report.partitions || [];
  setText('report-partitions', partitions.length
    ? `partitions ${partitions.join(', ')} only (this node's)` : '');
  drawWeeks(report);
  drawCohorts(report);
  drawEffects(report);
  drawTables(report);
}

function showLogin(message) {
  $('panels').hidden = true;
  $('sign-out').hidden = true;
  $('login').hidden = false;
  setText('login-error', message || '');
  setText('report-state', 'signed out');
}

function setState(text, kind) {
  setText('report-state', text);
  $('report-state').className = 'badge ' + kind;
}

async function load() {
  const token = sessionStorage.getItem(TOKEN_KEY);
  if (!token) return showLogin();
  const params = new URLSearchParams();
  const from = $('from').value.trim();
  if (from) params.set('from', `${from}T00:00:00Z`);
  params.set('min_users', $('min-users').value || '5');
  setText('query-error', '');
  // Said at once, so that whoever waits for 'loaded' waits for this answer.
  setState('loading', 'warn');
  try {
    const res = await fetch('/api/analytics/metrics?' + params, {
      headers: { Authorization: 'Bearer ' + token } });
    const body = await res.json();
    if (res.status === 401 || res.status === 403) {
      sessionStorage.removeItem(TOKEN_KEY);
      return showLogin(body.error ? `${body.error.code}: ${body.error.message}` : 'refused');
    }
    $('login').hidden = true;
    $('panels').hidden = false;
    $('sign-out').hidden = false;
    if (!res.ok) {
      setState(res.status === 503 ? 'no figures yet' : 'refused', 'warn');
      setText('query-error', body.error ? `${body.error.code}: ${body.error.message}` : `HTTP ${res.status}`);
      return;
    }
    draw(body);
    setState('loaded', 'ok');
  } catch (e) {
    setState('unreachable', 'bad');
  }
}

// A token handed over in the address (#token=...) is kept for this tab
// only and taken out of the address bar and history; whether there was one.
function takeTokenFromAddress() {
  const fromHash = new URLSearchParams(location.hash.slice(1)).get('token');
  if (!fromHash) return false;
  sessionStorage.setItem(TOKEN_KEY, fromHash);
  window.history.replaceState(null, '', location.pathname);
  return true;
}

function start() {
  takeTokenFromAddress();
  window.addEventListener('hashchange', () => { if (takeTokenFromAddress()) load(); });
  $('login').addEventListener('submit', (e) => {
    e.preventDefault();
    sessionStorage.setItem(TOKEN_KEY, $('token').value.trim());
    $('token').value = '';
    load();
  });
  $('query').addEventListener('submit', (e) => {
    e.preventDefault();
    load();
  });
  $('sign-out').addEventListener('click', () => {
    sessionStorage.removeItem(TOKEN_KEY);
    showLogin();
  });
  load();
}

start();
