// plexus dashboard: header, nodes, links, split picture and live stats, all
// polled from the server's JSON API (docs: GET /api/cluster, /api/plan,
// /api/stats, /health, /api/config). The chat panel lives in chat.js.
import { api, askForKey, errorFrom, getJson, hasKey, onKeyChange } from './api.js';
import { initChat } from './chat.js';
import { fmtRange, rankColor, renderSplit, structureKey } from './split.js';

const $ = (id) => document.getElementById(id);

const POLL_STATS_MS = 1000;
const POLL_HEALTH_MS = 3000;
const POLL_CLUSTER_MS = 5000;
const SPARK_POINTS = 60;

const state = { splitKey: '', tps: [], config: null };

// ---- formatting ----------------------------------------------------------

export function fmtBytes(n) {
  if (typeof n !== 'number' || !isFinite(n) || n <= 0) return '–';
  const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];
  let i = 0;
  while (n >= 1024 && i < units.length - 1) { n /= 1024; i++; }
  return `${n >= 100 || i === 0 ? n.toFixed(0) : n.toFixed(1)} ${units[i]}`;
}

const fmtNum = (v, digits = 1) => (typeof v === 'number' && isFinite(v) ? v.toFixed(digits) : '–');

function fmtDuration(s) {
  if (typeof s !== 'number' || !isFinite(s)) return '–';
  if (s < 60) return `${s.toFixed(0)} s`;
  if (s < 3600) return `${Math.floor(s / 60)} min ${Math.floor(s % 60)} s`;
  return `${Math.floor(s / 3600)} h ${Math.floor((s % 3600) / 60)} min`;
}

function make(tag, cls = '', textContent = '') {
  const node = document.createElement(tag);
  if (cls) node.className = cls;
  if (textContent) node.textContent = textContent;
  return node;
}

// ---- header, nodes, links ------------------------------------------------

function renderHeader(cluster) {
  const model = cluster.model || {};
  $('model-id').textContent = model.id || '(no model)';
  $('model-id').title = [model.path, model.arch, model.quant, fmtBytes(model.file_bytes)].filter(Boolean).join(' · ');
  $('split').textContent = cluster.split || '?';
  const n = (cluster.nodes || []).length;
  $('split').title = `${n} rank${n === 1 ? '' : 's'}`;
  const dims = [
    model.arch, model.n_layers && `${model.n_layers} layers`, model.n_heads && `${model.n_heads} heads`,
    model.n_kv_heads && `${model.n_kv_heads} KV heads`, model.n_embd && `d ${model.n_embd}`,
    model.n_ff && `FFN ${model.n_ff}`, model.n_vocab && `vocab ${model.n_vocab}`,
    model.context && `ctx ${model.context}`, model.quant,
  ].filter(Boolean);
  $('model-dims').textContent = dims.join(' · ');
}

function field(dl, label, value) {
  dl.append(make('dt', '', label), make('dd', '', value));
}

function nodeCard(node) {
  const card = make('article', 'node-card');
  card.dataset.rank = node.rank;
  card.style.setProperty('--rank-color', rankColor(node.rank));
  const head = make('header');
  const name = make('span', 'name', node.name || '?');
  name.title = node.name || '';
  head.append(make('span', 'swatch'), make('span', 'rank', `rank ${node.rank}`), name,
    make('span', `role ${node.role === 'coordinator' ? 'coordinator' : 'worker'}`, node.role || 'node'));
  card.append(head);

  const holds = [['layers', node.layers], ['heads', node.heads], ['KV', node.kv_heads], ['FFN', node.ffn],
    ['experts', node.experts]]
    .map(([k, r]) => (fmtRange(r) ? `${k} ${fmtRange(r)}` : '')).filter(Boolean).join(' · ');
  card.append(make('div', 'holds', holds));

  // Memory bar: the machine's used memory (grey) with this process's RSS over it.
  const mem = make('div', 'mem');
  const bar = make('div', 'bar');
  const total = node.mem_total || 0;
  if (total > 0) {
    const used = Math.max(0, total - (node.mem_available || 0));
    const usedFill = make('div', 'fill used');
    usedFill.style.width = `${Math.min(100, (100 * used) / total)}%`;
    const rssFill = make('div', 'fill rss');
    rssFill.style.width = `${Math.min(100, (100 * (node.rss || 0)) / total)}%`;
    bar.append(usedFill, rssFill);
  }
  mem.append(bar, make('div', 'mem-text',
    `RSS ${fmtBytes(node.rss)} of ${fmtBytes(node.mem_total)} · ${fmtBytes(node.mem_available)} available`));
  card.append(mem);

  const dl = make('dl');
  field(dl, 'cores', node.cores > 0 ? String(node.cores) : '–');
  field(dl, 'SIMD', node.simd || '–');
  if (typeof node.membw_gbs === 'number' || typeof node.gflops === 'number') {
    field(dl, 'speed', `${fmtNum(node.membw_gbs, 1)} GB/s · ${fmtNum(node.gflops, 1)} GFLOP/s`);
  }
  field(dl, 'GPUs', Array.isArray(node.gpus) && node.gpus.length > 0 ? node.gpus.join(', ') : 'none');
  field(dl, 'weights', fmtBytes(node.weight_bytes));
  field(dl, 'share', typeof node.share === 'number' ? `${(node.share * 100).toFixed(0)}%` : '–');
  if (typeof node.link_rtt_us === 'number' && node.link_rtt_us >= 0) {
    const via = node.link_transport ? ` · ${node.link_transport}` : '';
    field(dl, 'link', `${fmtNum(node.link_rtt_us, 0)} µs · ${fmtNum(node.link_gbps, 1)} Gbit/s${via}`);
  }
  card.append(dl);
  return card;
}

function renderNodes(cluster) {
  const nodes = [...(cluster.nodes || [])].sort((a, b) => a.rank - b.rank);
  $('nodes').replaceChildren(...nodes.map(nodeCard));
  $('nodes-count').textContent = `${nodes.length}`;
}

function renderLinks(cluster) {
  const body = $('links').tBodies[0];
  const links = cluster.links || [];
  const names = new Map((cluster.nodes || []).map((n) => [n.rank, n.name]));
  const rows = links.map((link) => {
    const tr = make('tr');
    tr.dataset.link = `${link.a}-${link.b}`;
    const pair = make('td');
    for (const [i, r] of [link.a, link.b].entries()) {
      const chip = make('span', 'rank-chip', `${r}`);
      chip.style.setProperty('--rank-color', rankColor(r));
      chip.title = names.get(r) || '';
      pair.append(chip);
      if (i === 0) pair.append(document.createTextNode(' ↔ '));
    }
    tr.append(pair, make('td', 'num', fmtNum(link.latency_us, 1)), make('td', 'num', fmtNum(link.bandwidth_gbps, 2)));
    return tr;
  });
  if (!rows.length) {
    const tr = make('tr', 'empty');
    const td = make('td', 'muted', (cluster.nodes || []).length > 1 ? 'no links measured' : 'single process: no links');
    td.colSpan = 3;
    tr.append(td);
    rows.push(tr);
  }
  body.replaceChildren(...rows);
  renderLinksAge(cluster);
}

// When the links were last measured: at join, then again while idle (--link-refresh).
function renderLinksAge(cluster) {
  const at = cluster.links_measured_at_ms;
  if (typeof at !== 'number') {
    $('links-age').textContent = 'measured at join';
    return;
  }
  const age = Math.max(0, (Date.now() - at) / 1000);
  const rounds = cluster.links_rounds || 1;
  $('links-age').textContent = `measured ${fmtDuration(age)} ago` + (rounds > 1 ? ` (${rounds} rounds)` : ' (at join)');
  $('links-age').title = new Date(at).toLocaleString();
}

// Which node coordinates, where the page is served by `plexus node --api-port`:
// its forwarded answers carry X-Plexus-Coordinator ("ID HOST:PORT[; this node]").
function renderCoordinator(header) {
  const el = $('coordinator');
  el.hidden = !header;
  if (!header) return;
  const [who, self] = header.split(';');
  const [id, address] = who.trim().split(' ');
  el.textContent = `coordinator ${id.slice(0, 8)} at ${address}` + (self ? ' (this node)' : '');
  el.title = `node ${id}: every request to this page's server is forwarded to it`;
}

// The planner's choice: tp/pp/ep, predicted tokens/s, runner-ups and why they lost.
function renderPlan(plan) {
  const body = $('plan-alts').tBodies[0];
  if (!plan.planned) {
    $('plan-summary').textContent = `not planned: ${plan.why || ''}`;
    body.replaceChildren();
    $('plan-reasons').replaceChildren();
    return;
  }
  const nodes = (plan.nodes || []).map((n) => n.name).join(', ');
  $('plan-summary').textContent =
    `${plan.split}: tp ${plan.tp} · pp ${plan.pp} · ep ${plan.ep} · ${fmtNum(plan.predicted_tps, 2)} tokens/s ` +
    `predicted · ${plan.groups || nodes}${plan.run_flags ? ` · ${plan.run_flags}` : ''}`;
  body.replaceChildren(...(plan.alternatives || []).map((alt) => {
    const tr = make('tr');
    tr.append(make('td', '', `${alt.split} on ${alt.groups || ''}`), make('td', 'num', alt.fits ? fmtNum(alt.predicted_tps, 2) : '–'),
      make('td', 'small', alt.why || ''));
    return tr;
  }));
  $('plan-reasons').replaceChildren(...(plan.reasons || []).map((r) => make('li', 'small', r)));
}

async function pollPlan() {
  try {
    renderPlan(await getJson('/api/plan'));
  } catch (e) {
    $('plan-summary').textContent = `plan: ${e.message}`;
  }
}

async function pollCluster() {
  try {
    const res = await api('/api/cluster');
    if (!res.ok) throw await errorFrom(res);
    const cluster = await res.json();
    renderCoordinator(res.headers.get('X-Plexus-Coordinator'));
    renderHeader(cluster);
    renderNodes(cluster);
    const key = structureKey(cluster);
    renderLinks(cluster);  // the numbers change at each idle-time refresh
    if (key !== state.splitKey) {  // re-draw only when the layout changed
      state.splitKey = key;
      pollPlan();  // a new placement may come with a new plan
      renderSplit($('split-svg'), cluster);
    }
    $('cluster-error').textContent = '';
  } catch (e) {
    $('cluster-error').textContent = `cluster: ${e.message}`;
  }
}

// ---- health and live stats -----------------------------------------------

async function pollHealth() {
  const health = $('health');
  try {
    const res = await fetch('/health');
    const body = await res.json().catch(() => ({}));
    const ok = res.ok && body.status === 'ok';
    health.dataset.state = ok ? 'ok' : 'bad';
    $('health-text').textContent = ok ? 'healthy' : 'unhealthy';
    health.title = ok ? 'GET /health: ok' : `GET /health: ${body.error || res.status}`;
  } catch (e) {
    health.dataset.state = 'bad';
    $('health-text').textContent = 'unreachable';
    health.title = `GET /health: ${e.message}`;
  }
}

function drawSparkline() {
  const canvas = $('tps-spark');
  const dpr = window.devicePixelRatio || 1;
  const w = canvas.clientWidth, h = canvas.clientHeight;
  if (!w || !h) return;
  canvas.width = Math.round(w * dpr);
  canvas.height = Math.round(h * dpr);
  const ctx = canvas.getContext('2d');
  ctx.scale(dpr, dpr);
  ctx.clearRect(0, 0, w, h);
  const accent = getComputedStyle(document.body).getPropertyValue('--accent').trim() || '#4e79a7';
  ctx.fillStyle = getComputedStyle(document.body).getPropertyValue('--border').trim() || '#ccc';
  ctx.fillRect(0, h - 1, w, 1);  // the zero line, across the whole minute
  const values = state.tps;
  if (values.length < 2) return;
  const max = Math.max(1, ...values);
  // Right-aligned; the first samples spread over at least a third of the width.
  const step = w / (Math.max(values.length, SPARK_POINTS / 3) - 1);
  const x0 = w - (values.length - 1) * step;
  const y = (v) => h - 2 - (v / max) * (h - 4);
  ctx.beginPath();
  values.forEach((v, i) => (i ? ctx.lineTo(x0 + i * step, y(v)) : ctx.moveTo(x0, y(v))));
  ctx.strokeStyle = accent;
  ctx.lineWidth = 1.5;
  ctx.stroke();
  ctx.lineTo(x0 + (values.length - 1) * step, h);
  ctx.lineTo(x0, h);
  ctx.closePath();
  ctx.globalAlpha = 0.15;
  ctx.fillStyle = accent;
  ctx.fill();
  $('tps-max').textContent = `max ${max.toFixed(1)}`;
}

function renderStats(s) {
  $('tps').textContent = fmtNum(s.decode_tps, 1);
  $('queue').textContent = `${s.active ?? '–'} active · ${s.queued ?? '–'} queued`;
  $('queue').title = `at most ${s.max_active ?? '?'} active, ${s.max_queue ?? '?'} queued`;
  $('queue-limits').textContent = `limits ${s.max_active ?? '?'} / ${s.max_queue ?? '?'}`;
  $('stat-requests').textContent = `${s.requests_total ?? '–'}` +
    (s.requests_rejected ? ` (${s.requests_rejected} rejected)` : '');
  $('stat-tokens').textContent = `${s.prompt_tokens_total ?? '–'} / ${s.generated_tokens_total ?? '–'}`;
  $('stat-ttft').textContent = typeof s.last_ttft_ms === 'number' ? `${s.last_ttft_ms.toFixed(0)} ms` : '–';
  $('stat-uptime').textContent = fmtDuration(s.uptime_s);
  state.tps.push(typeof s.decode_tps === 'number' && isFinite(s.decode_tps) ? s.decode_tps : 0);
  if (state.tps.length > SPARK_POINTS) state.tps.shift();
  drawSparkline();
}

async function pollStats() {
  try {
    renderStats(await getJson('/api/stats'));
    $('stats-error').textContent = '';
  } catch (e) {
    $('stats-error').textContent = `stats: ${e.message}`;
  }
}

// Runs fn now and then every ms after it finishes (never two at once).
function every(ms, fn) {
  const tick = async () => {
    if (!$('auth-dialog').open) await fn();
    setTimeout(tick, ms);
  };
  tick();
}

async function boot() {
  initChat();
  pollHealth();
  try {
    state.config = await (await fetch('/api/config')).json();
    $('version').textContent = state.config.version ? `v${state.config.version}` : '';
  } catch {
    state.config = { auth_required: false };  // an older server: try without a key
  }
  if (state.config.auth_required && !hasKey()) await askForKey();
  onKeyChange(() => { pollCluster(); pollStats(); });
  every(POLL_HEALTH_MS, pollHealth);
  every(POLL_CLUSTER_MS, pollCluster);
  every(POLL_STATS_MS, pollStats);
  window.addEventListener('resize', drawSparkline);
  document.body.dataset.ready = 'true';
}

// Exposed for the browser tests (and a person poking at the console).
window.plexusDashboard = { state, api };

boot();
