// coach ops dashboard: polls GET /api/ops (admin bearer token) every second
// and draws the node's figures. Rates and the last minute's latency
// percentiles come from differences between snapshots, as Prometheus'
// rate() and histogram_quantile() would compute them.
'use strict';

const POLL_MS = 1000;
const WINDOW_MS = 60000;
const TOKEN_KEY = 'coach-ops-token';
const snaps = [];  // {t, snap}, oldest first, about WINDOW_MS of them

const $ = (id) => document.getElementById(id);
const num = (v) => Number(v ?? 0);  // uint64 arrive as strings in protobuf JSON

function fmtInt(v) { return num(v).toLocaleString('en-US'); }
function fmtRate(v) { return v >= 100 ? v.toFixed(0) : v.toFixed(1); }
function fmtSeconds(s) {
  if (s === null || !isFinite(s)) return '–';
  if (s < 0.001) return (s * 1e6).toFixed(0) + ' µs';
  if (s < 1) return (s * 1e3).toFixed(s < 0.01 ? 2 : 1) + ' ms';
  return s.toFixed(2) + ' s';
}
function fmtDuration(s) {
  s = Math.floor(s);
  const d = Math.floor(s / 86400), h = Math.floor(s % 86400 / 3600);
  const m = Math.floor(s % 3600 / 60), sec = s % 60;
  return d ? `${d}d ${h}h` : h ? `${h}h ${m}m` : m ? `${m}m ${sec}s` : `${sec}s`;
}
function setText(id, text) {
  const el = $(id);
  if (el && el.textContent !== String(text)) el.textContent = text;
}

// Bucket counts (not cumulative) minus those of an older snapshot.
function bucketDelta(now, old) {
  const counts = (now.counts || []).map(num);
  if (old) (old.counts || []).forEach((c, i) => { counts[i] -= num(c); });
  return { bounds: (now.upper_bounds || []).map(Number), counts };
}

// The q-quantile of a histogram, interpolating inside the bucket it falls in.
function quantile(q, h) {
  const total = h.counts.reduce((a, b) => a + b, 0);
  if (total <= 0) return null;
  const rank = q * total;
  let seen = 0;
  for (let i = 0; i < h.counts.length; i++) {
    if (seen + h.counts[i] >= rank && h.counts[i] > 0) {
      if (i >= h.bounds.length) return h.bounds[h.bounds.length - 1];  // above the last bound
      const lower = i === 0 ? 0 : h.bounds[i - 1];
      return lower + (h.bounds[i] - lower) * ((rank - seen) / h.counts[i]);
    }
    seen += h.counts[i];
  }
  return h.bounds[h.bounds.length - 1];
}

function snapshotAgo(ms) {
  const now = snaps[snaps.length - 1].t;
  for (const entry of snaps) if (now - entry.t <= ms) return entry;
  return snaps[0];
}

// Per second between each snapshot and the one before it, for a sparkline.
function rateSeries(pick) {
  return snaps.map((e, i) => i === 0 ? 0 :
    Math.max(0, (pick(e.snap) - pick(snaps[i - 1].snap)) / Math.max(0.001, (e.t - snaps[i - 1].t) / 1000)));
}

function rate(pick) {
  if (snaps.length < 2) return 0;
  const a = snaps[snaps.length - 2], b = snaps[snaps.length - 1];
  const dt = (b.t - a.t) / 1000;
  return dt > 0 ? Math.max(0, (pick(b.snap) - pick(a.snap)) / dt) : 0;
}

function fillTable(id, rows) {
  const body = $(id);
  const html = rows.map((cells) =>
    '<tr>' + cells.map((c) => `<td>${escapeHtml(String(c))}</td>`).join('') + '</tr>').join('');
  if (body.innerHTML !== html) body.innerHTML = html;
}
function escapeHtml(s) {
  return s.replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' }[c]));
}

function spark(id, values) {
  const svg = $(id);
  const max = Math.max(1, ...values);
  const step = 300 / Math.max(1, values.length - 1);
  const points = values.map((v, i) => `${(i * step).toFixed(1)},${(38 - 36 * v / max).toFixed(1)}`);
  svg.innerHTML = `<polyline points="${points.join(' ')}"></polyline>`;
}

function totalCommands(s) { return (s.commands || []).reduce((a, c) => a + num(c.count), 0); }
function totalErrors(s) { return (s.commands || []).reduce((a, c) => a + num(c.errors), 0); }

function drawActors(s) {
  const n = s.node || {};
  setText('resident-actors', fmtInt(n.resident_actors));
  setText('passivated-actors', fmtInt(s.users_passivated));
  setText('users-known', fmtInt(s.users_known));
  setText('actors-spawned', fmtInt(n.actors_spawned));
  setText('actors-passivations', fmtInt(n.actors_passivated));
  setText('actor-restarts', fmtInt(n.actor_restarts));
  setText('requests-in-flight', fmtInt(n.requests_in_flight));
  setText('busy-replies', fmtInt(n.busy_replies));
  fillTable('restart-reasons', Object.entries(s.restarts_by_reason || {})
    .sort((a, b) => num(b[1]) - num(a[1])).map(([r, c]) => [r, fmtInt(c)]));
  fillTable('mailboxes', (s.busiest || []).map((a) =>
    [a.user_id, fmtInt(a.mailbox), a.since ? new Date(a.since).toLocaleTimeString() : '–']));
}

function drawCommands(s) {
  const old = snapshotAgo(WINDOW_MS).snap;
  const oldByOp = new Map((old.commands || []).map((c) => [c.operation, c]));
  const prev = snaps.length > 1 ? snaps[snaps.length - 2] : null;
  const prevByOp = new Map(((prev && prev.snap.commands) || []).map((c) => [c.operation, c]));
  const dt = prev ? (snaps[snaps.length - 1].t - prev.t) / 1000 : 0;
  const rows = [];
  for (const c of s.commands || []) {
    if (num(c.count) === 0) continue;
    let h = bucketDelta(c.seconds || {}, (oldByOp.get(c.operation) || {}).seconds);
    if (h.counts.every((x) => x <= 0)) h = bucketDelta(c.seconds || {}, null);
    const before = prevByOp.get(c.operation);
    const r = dt > 0 && before ? (num(c.count) - num(before.count)) / dt : 0;
    rows.push([c.operation, fmtInt(c.count), fmtRate(Math.max(0, r)), fmtInt(c.errors),
      fmtSeconds(quantile(0.5, h)), fmtSeconds(quantile(0.95, h)), fmtSeconds(quantile(0.99, h))]);
  }
  fillTable('commands', rows);
  setText('command-rate', fmtRate(rate(totalCommands)));
  setText('commands-total', fmtInt(totalCommands(s)));
  setText('command-errors', fmtInt(totalErrors(s)));
  spark('command-spark', rateSeries(totalCommands));
}

function drawLog(s) {
  const n = s.node || {};
  setText('append-rate', fmtRate(rate((x) => num(x.events_appended))));
  setText('events-appended', fmtInt(s.events_appended));
  setText('feed-head', fmtInt(n.events_stored));
  setText('group-commits', fmtInt(n.group_commits));
  const groups = s.append_group_size || {};
  setText('group-size-mean', num(groups.count) ? (num(groups.sum) / num(groups.count)).toFixed(2) : '–');
  const q = quantile(0.99, bucketDelta(groups, null));
  setText('group-size-p99', q === null ? '–' : q.toFixed(1));
  setText('write-p99', fmtSeconds(quantile(0.99, bucketDelta(s.append_write_seconds || {}, null))));
  spark('append-spark', rateSeries((x) => num(x.events_appended)));
}

function drawBatch(s) {
  const b = s.batch || {};
  const total = num(b.users_total), done = num(b.users_done);
  setText('batch-state', b.running ? 'running' : 'idle');
  setText('batch-progress', total ? `${fmtInt(done)} / ${fmtInt(total)} users` : '–');
  setText('batch-runs', fmtInt(b.runs));
  const last = b.last || {};
  setText('batch-last', last.finished_at ? new Date(last.finished_at).toLocaleString() : 'none yet');
  $('batch-bar').style.width = total ? `${(100 * done / total).toFixed(1)}%` : '0';
}

function drawLlm(s) {
  const n = s.node || {};
  const breaker = n.llm_breaker || 'no LLM';
  const badge = $('llm-breaker');
  setText('llm-breaker', breaker);
  badge.className = 'badge ' + ({ closed: 'ok', half_open: 'warn', open: 'bad' }[breaker] || '');
  setText('nudges-llm', fmtInt(n.nudges_by_llm));
  setText('nudges-template', fmtInt(n.nudges_by_template));
  setText('llm-retries', fmtInt(n.llm_retries));
  setText('llm-queue', fmtInt(n.llm_queue));
  const budget = num(n.llm_tokens_per_day);
  setText('llm-tokens-today', `${fmtInt(n.llm_tokens_today)}${budget ? ' / ' + fmtInt(budget) : ''}`);
  setText('llm-tokens-total', fmtInt(n.llm_tokens_total));
  $('llm-budget-bar').style.width = budget ? `${Math.min(100, 100 * num(n.llm_tokens_today) / budget)}%` : '0';
  fillTable('fallbacks', Object.entries(n.template_fallbacks || {}).map(([r, c]) => [r, fmtInt(c)]));
}

function drawNotifications(s) {
  const n = s.node || {};
  setText('notifications-pending', fmtInt(n.notifications_pending));
  setText('dead-letters', fmtInt(n.dead_letters));
  setText('notifications-published', fmtInt(n.notifications_published));
  setText('publish-errors', fmtInt(n.notification_publish_errors));
  setText('checks-scheduled', fmtInt(n.nudge_checks_scheduled));
}

function clusterMode(c) {
  if (num(c.partitions)) return `partitioned: ${fmtInt(c.partitions)} partitions, log R${num(c.log_replicas)}`;
  if (num(c.log_replicas)) return `owner and standbys, log R${num(c.log_replicas)}`;
  return 'single node';
}

function drawCluster(s) {
  const c = s.cluster || {};
  const map = c.partition_map || [];
  setText('cluster-mode', clusterMode(c));
  setText('cluster-node', `${c.node_id || '–'}${c.lease_held ? ' (holds a lease)' : ''}`);
  const members = c.member_ids || [];
  setText('cluster-members', members.length ? `${members.length}: ${members.join(', ')}` : '–');
  setText('cluster-held', num(c.partitions) ? `${fmtInt(c.partitions_held)} / ${fmtInt(c.partitions)}` : '–');
  setText('cluster-lease-age', num(c.log_replicas) ? fmtSeconds(num(c.lease_age_seconds)) : '–');
  setText('cluster-forwarded', fmtInt(c.forwarded));
  setText('cluster-log', `${fmtInt(c.log_position)} / ${fmtInt(c.caught_up_events)}`);
  const owners = {};
  for (const p of map) owners[p.owner || '(moving)'] = (owners[p.owner || '(moving)'] || 0) + 1;
  fillTable('cluster-owners', Object.entries(owners).sort().map(([o, n]) => [o, fmtInt(n)]));
  fillTable('cluster-partitions', map.filter((p) => p.served_here).map((p) => [
    `p${num(p.partition)}`, fmtSeconds(num(p.lease_age_seconds)),
    fmtSeconds(num(p.catch_up_seconds)), fmtInt(p.caught_up_events), fmtInt(p.events)]));
}

function draw(s) {
  const state = $('node-state');
  setText('node-state', s.draining ? 'draining' : s.ready ? 'ready' : 'not ready');
  state.className = 'badge ' + (s.draining ? 'warn' : s.ready ? 'ok' : 'bad');
  setText('uptime', fmtDuration(num(s.uptime_seconds)));
  setText('updated', new Date().toLocaleTimeString());
  drawActors(s);
  drawCommands(s);
  drawLog(s);
  drawBatch(s);
  drawLlm(s);
  drawNotifications(s);
  drawCluster(s);
}

function showLogin(message) {
  $('panels').hidden = true;
  $('sign-out').hidden = true;
  $('login').hidden = false;
  setText('login-error', message || '');
  setText('node-state', 'signed out');
}

let timer = null;
async function poll() {
  const token = sessionStorage.getItem(TOKEN_KEY);
  if (!token) return showLogin();
  try {
    const res = await fetch('/api/ops', { headers: { Authorization: 'Bearer ' + token } });
    const body = await res.json();
    if (res.status === 401 || res.status === 403) {
      sessionStorage.removeItem(TOKEN_KEY);
      return showLogin(body.error ? `${body.error.code}: ${body.error.message}` : 'refused');
    }
    if (!res.ok) throw new Error(`HTTP ${res.status}`);
    snaps.push({ t: Date.now(), snap: body });
    while (snaps.length > 2 && snaps[snaps.length - 1].t - snaps[1].t > WINDOW_MS) snaps.shift();
    $('login').hidden = true;
    $('panels').hidden = false;
    $('sign-out').hidden = false;
    draw(body);
  } catch (e) {
    setText('node-state', 'unreachable');
    $('node-state').className = 'badge bad';
  }
  timer = setTimeout(poll, POLL_MS);
}

function start() {
  // A token handed over in the address (#token=...) is kept for this tab
  // only and taken out of the address bar and history.
  const fromHash = new URLSearchParams(location.hash.slice(1)).get('token');
  if (fromHash) {
    sessionStorage.setItem(TOKEN_KEY, fromHash);
    snaps.length = 0;
    window.history.replaceState(null, '', location.pathname);
  }
  $('login').addEventListener('submit', (e) => {
    e.preventDefault();
    sessionStorage.setItem(TOKEN_KEY, $('token').value.trim());
    $('token').value = '';
    clearTimeout(timer);
    poll();
  });
  $('sign-out').addEventListener('click', () => {
    sessionStorage.removeItem(TOKEN_KEY);
    clearTimeout(timer);
    showLogin();
  });
  poll();
}

start();
