// The split picture: which layers, attention heads and FFN rows each rank
// holds, drawn as an SVG from GET /api/cluster.
//
// Layout (x: layers, grouped by pipeline stage; y: tracks):
//
//   stage 0 · layers 0–2        stage 1 · layers 3–4     LM head
//   heads  [rank 0 band      ] [rank 2 band      ]      [r2 vocab]
//          [rank 1 band      ] [rank 3 band      ]      [r3 vocab]
//   FFN    [rank 0 | rank 1  ] [rank 2 | rank 3  ]
//   legend: one chip per rank; links between chips as arcs (µs, Gbit/s)
//
// A rank's head / FFN range is the same for every layer of its stage, so each
// band is one rect spanning the stage; thin separators mark the layers.
//
// Mixtures of experts: the FFN track becomes the experts track (y: expert
// ids), one band per rank over the experts it holds whole. Under expert
// parallelism (epN, tpAxepB) several ranks hold the same heads (replicas):
// they share that band's height, side by side in y. The LM head's rows are
// split over all ranks of the expert group, so its bands do not overlap.

const SVG_NS = 'http://www.w3.org/2000/svg';
const PALETTE = ['#4e79a7', '#f28e2b', '#59a14f', '#e15759', '#9c6ade', '#d4a72c', '#2fa5a5', '#e377c2'];

export function rankColor(rank) {
  if (rank < PALETTE.length) return PALETTE[rank];
  return `hsl(${(rank * 137.508) % 360} 55% 52%)`;  // golden-angle hues past the palette
}

function el(name, attrs = {}, parent = null) {
  const node = document.createElementNS(SVG_NS, name);
  for (const [k, v] of Object.entries(attrs)) node.setAttribute(k, String(v));
  if (parent) parent.appendChild(node);
  return node;
}

function text(parent, x, y, str, attrs = {}) {
  const t = el('text', { x, y, ...attrs }, parent);
  t.textContent = str;
  return t;
}

function title(parent, str) {
  el('title', {}, parent).textContent = str;
}

// [begin, end) as "b–e-1" (inclusive, as a person reads it); "" when empty.
export function fmtRange(r) {
  if (!Array.isArray(r) || r.length !== 2 || r[1] <= r[0]) return '';
  return r[1] - r[0] === 1 ? `${r[0]}` : `${r[0]}–${r[1] - 1}`;
}

const size = (r) => (Array.isArray(r) && r.length === 2 ? Math.max(0, r[1] - r[0]) : 0);

// Pipeline stages: ranks grouped by their layer range, in layer order.
export function stagesOf(cluster) {
  const byKey = new Map();
  for (const node of cluster.nodes || []) {
    const layers = node.layers || [0, cluster.model?.n_layers || 0];
    const key = `${layers[0]}:${layers[1]}`;
    if (!byKey.has(key)) byKey.set(key, { layers, ranks: [] });
    byKey.get(key).ranks.push(node);
  }
  return [...byKey.values()].sort((a, b) => a.layers[0] - b.layers[0]);
}

// A string that changes only when the picture would (not with rss or stats).
export function structureKey(cluster) {
  const m = cluster.model || {};
  const nodes = (cluster.nodes || []).map((n) =>
    [n.rank, n.name, n.role, n.layers, n.heads, n.kv_heads, n.ffn, n.vocab, n.experts, n.shared_experts]);
  const links = (cluster.links || []).map((l) => [l.a, l.b, l.latency_us, l.bandwidth_gbps]);
  return JSON.stringify([m.id, m.n_layers, m.n_heads, m.n_ff, m.n_vocab, m.n_experts, cluster.split, nodes, links]);
}

const GEOM = {
  left: 96, top: 44, headsH: 150, gap: 18, ffnH: 86, stageGap: 16, lmGap: 22, lmW: 46,
  nominalW: 820, right: 12,
};

function layerWidth(nLayers, nStages) {
  const avail = GEOM.nominalW - GEOM.left - GEOM.right - GEOM.lmGap - GEOM.lmW - (nStages - 1) * GEOM.stageGap;
  return Math.max(6, Math.min(90, avail / Math.max(1, nLayers)));
}

// One band: a rank's share of a track over a stage's columns.
function band(g, node, x, y, w, h, label, tip, cls) {
  const rect = el('rect', {
    x, y, width: Math.max(1, w), height: Math.max(1, h), fill: rankColor(node.rank),
    class: `band ${cls}`, 'data-rank': node.rank,
  }, g);
  title(rect, tip);
  if (h >= 13 && w >= 26) {
    const t = text(g, x + w / 2, y + h / 2, label, {
      class: 'band-label', 'text-anchor': 'middle', 'dominant-baseline': 'central', 'data-rank': node.rank,
    });
    title(t, tip);
  }
}

// Ranks holding the same range of one track (ep replicas): lane i of n for
// each node, by rank order within its range.
function lanes(nodes, rangeOf) {
  const groups = new Map();
  for (const node of nodes) {
    const key = JSON.stringify(rangeOf(node));
    if (!groups.has(key)) groups.set(key, []);
    groups.get(key).push(node);
  }
  const out = new Map();
  for (const members of groups.values()) {
    members.sort((a, b) => a.rank - b.rank);
    members.forEach((node, i) => out.set(node.rank, { i, n: members.length }));
  }
  return out;
}

// A track band: `r` of `total` items, in the node's lane of its replicas.
function laneBand(g, node, lane, x, y0, w, h, r, total, label, tip, cls) {
  const y = y0 + (r[0] / total) * h, full = (size(r) / total) * h;
  const sub = full / lane.n;
  band(g, node, x, y + lane.i * sub, w, sub, label, lane.n > 1 ? `${tip} (one of ${lane.n} replicas)` : tip, cls);
}

function drawStage(g, stage, model, x0, lw) {
  const [l0, l1] = stage.layers;
  const w = (l1 - l0) * lw;
  const { top, headsH, gap, ffnH } = GEOM;
  const ffnTop = top + headsH + gap;
  const nHeads = model.n_heads || 1, nFf = model.n_ff || 1, nExperts = model.n_experts || 0;
  el('rect', { x: x0 - 4, y: top - 30, width: w + 8, height: headsH + gap + ffnH + 36, class: 'stage-bg', rx: 6 }, g);
  const multi = (model.n_layers || 1) > 1;
  const label = multi ? `layers ${fmtRange(stage.layers)}` : 'layer 0';
  text(g, x0 + w / 2, top - 14, stage.title ? `${stage.title} · ${label}` : label,
    { class: 'stage-label', 'text-anchor': 'middle' });
  const headLanes = lanes(stage.ranks, (n) => n.heads || [0, nHeads]);
  const ffnLanes = lanes(stage.ranks, (n) => (nExperts > 0 ? n.experts : n.ffn) || [0, nExperts || nFf]);
  for (const node of stage.ranks) {
    const who = `rank ${node.rank} (${node.name || '?'})`;
    const kv = fmtRange(node.kv_heads);
    const hs = node.heads || [0, nHeads];
    laneBand(g, node, headLanes.get(node.rank), x0, top, w, headsH, hs, nHeads,
      `r${node.rank} · heads ${fmtRange(hs)}`,
      `${who}: layers ${fmtRange(stage.layers)}, heads ${fmtRange(hs)} (${size(hs)} of ${nHeads})` +
        (kv ? `, KV heads ${kv}` : ''), 'heads');
    if (nExperts > 0) {
      const es = node.experts || [0, nExperts];
      const shared = fmtRange(node.shared_experts);
      laneBand(g, node, ffnLanes.get(node.rank), x0, ffnTop, w, ffnH, es, nExperts,
        `r${node.rank} · experts ${fmtRange(es)}`,
        `${who}: layers ${fmtRange(stage.layers)}, experts ${fmtRange(es)} (${size(es)} of ${nExperts}, whole)` +
          (shared ? `, shared-expert rows ${shared}` : ''), 'ffn experts');
      continue;
    }
    const fs = node.ffn || [0, nFf];
    laneBand(g, node, ffnLanes.get(node.rank), x0, ffnTop, w, ffnH, fs, nFf,
      `r${node.rank} · ${size(fs)} rows`,
      `${who}: layers ${fmtRange(stage.layers)}, FFN rows ${fmtRange(fs)} (${size(fs)} of ${nFf})`, 'ffn');
  }
  // Per-head grid lines (when heads are few enough to see) and per-layer columns.
  if (nHeads <= 64) {
    for (let h = 1; h < nHeads; h++) {
      const y = top + (h / nHeads) * headsH;
      el('line', { x1: x0, x2: x0 + w, y1: y, y2: y, class: 'head-sep' }, g);
    }
  }
  for (let l = l0; l <= l1; l++) {
    const x = x0 + (l - l0) * lw;
    if (l > l0 && l < l1) {
      el('line', { x1: x, x2: x, y1: top, y2: top + headsH, class: 'layer-sep' }, g);
      el('line', { x1: x, x2: x, y1: ffnTop, y2: ffnTop + ffnH, class: 'layer-sep' }, g);
    }
    const every = Math.ceil(16 / lw);  // keep labels at least ~16 units apart
    if (l < l1 && (l - l0) % every === 0) {
      text(g, x + lw / 2, ffnTop + ffnH + 14, `${l}`, { class: 'layer-label', 'text-anchor': 'middle' });
    }
  }
  return w;
}

function drawLmHead(g, cluster, x) {
  const model = cluster.model || {};
  const nVocab = model.n_vocab || 1;
  const h = GEOM.headsH + GEOM.gap + GEOM.ffnH;
  const last = (cluster.nodes || []).filter((n) => !n.layers || n.layers[1] === model.n_layers);
  el('rect', { x: x - 4, y: GEOM.top - 30, width: GEOM.lmW + 8, height: h + 36, class: 'stage-bg', rx: 6 }, g);
  text(g, x + GEOM.lmW / 2, GEOM.top - 14, 'LM head', { class: 'stage-label', 'text-anchor': 'middle' });
  const vocabLanes = lanes(last, (n) => n.vocab || [0, nVocab]);
  for (const node of last) {
    const v = node.vocab || [0, nVocab];
    const tip = `rank ${node.rank} (${node.name || '?'}): LM-head rows ${fmtRange(v)} (${size(v)} of ${nVocab} tokens)`;
    laneBand(g, node, vocabLanes.get(node.rank), x, GEOM.top, GEOM.lmW, h, v, nVocab, `r${node.rank}`, tip, 'vocab');
  }
  text(g, x + GEOM.lmW / 2, GEOM.top + h + 14, 'vocab', { class: 'layer-label', 'text-anchor': 'middle' });
}

function drawAxes(g, model) {
  const { top, headsH, gap, ffnH, left } = GEOM;
  const ffnTop = top + headsH + gap;
  text(g, left - 12, top + headsH / 2 - 7, 'attention', { class: 'axis-label', 'text-anchor': 'end' });
  text(g, left - 12, top + headsH / 2 + 8, `${model.n_heads ?? '?'} heads`, { class: 'axis-sub', 'text-anchor': 'end' });
  const moe = (model.n_experts || 0) > 0;
  text(g, left - 12, ffnTop + ffnH / 2 - 7, moe ? 'experts' : 'FFN', { class: 'axis-label', 'text-anchor': 'end' });
  text(g, left - 12, ffnTop + ffnH / 2 + 8, moe ? `${model.n_experts} routed` : `${model.n_ff ?? '?'} rows`,
    { class: 'axis-sub', 'text-anchor': 'end' });
  text(g, left - 12, ffnTop + ffnH + 14, 'layer', { class: 'axis-sub', 'text-anchor': 'end' });
}

const fmtNum = (v, digits) => (typeof v === 'number' && isFinite(v) ? v.toFixed(digits) : '?');

// Arc levels: links whose rank intervals overlap get different depths, so
// their labels don't sit on top of each other. Returns a level per link.
function arcLevels(links, order) {
  const placed = [];  // [lo, hi, level]
  const spans = links.map((l, i) => {
    const a = order.get(l.a), b = order.get(l.b);
    return { i, lo: Math.min(a, b), hi: Math.max(a, b) };
  }).sort((p, q) => (p.hi - p.lo) - (q.hi - q.lo) || p.lo - q.lo);
  const levels = new Array(links.length).fill(0);
  for (const s of spans) {
    let level = 0;
    while (placed.some(([lo, hi, lv]) => lv === level && lo < s.hi && s.lo < hi)) level++;
    placed.push([s.lo, s.hi, level]);
    levels[s.i] = level;
  }
  return levels;
}

// Legend chips (one per rank) with the measured links drawn as arcs between them.
function drawLegend(g, cluster, y, width) {
  const nodes = [...(cluster.nodes || [])].sort((a, b) => a.rank - b.rank);
  const chipW = Math.min(220, (width - GEOM.left) / Math.max(1, nodes.length));
  const pos = new Map(), order = new Map();
  const fit = (str, px) => {
    const max = Math.max(5, Math.floor(px / 6.4));
    return str.length > max ? `${str.slice(0, max - 1)}…` : str;
  };
  nodes.forEach((node, i) => {
    const x = GEOM.left + i * chipW;
    const chip = el('g', { class: 'legend-item', 'data-rank': node.rank }, g);
    el('rect', { x, y, width: 14, height: 14, rx: 3, fill: rankColor(node.rank), 'data-rank': node.rank }, chip);
    text(chip, x + 20, y + 11, `rank ${node.rank}`, { class: 'legend-label' });
    text(chip, x + 20, y + 25, fit(node.name || '?', chipW - 26), { class: 'axis-sub' });
    text(chip, x + 20, y + 38, node.role || '', { class: 'axis-sub role' });
    title(chip, `rank ${node.rank}: ${node.name || '?'} (${node.role || '?'})`);
    pos.set(node.rank, x + 7);
    order.set(node.rank, i);
  });
  text(g, GEOM.left - 12, y + 11, 'ranks', { class: 'axis-label', 'text-anchor': 'end' });
  const links = (cluster.links || []).filter((l) => pos.has(l.a) && pos.has(l.b) && l.a !== l.b);
  if (!links.length) {
    if (nodes.length <= 1) text(g, GEOM.left, y + 62, 'single process: no links', { class: 'axis-sub' });
    return y + 70;
  }
  const levels = arcLevels(links, order);
  const base = y + 46;
  let bottom = base;
  links.forEach((link, i) => {
    const xa = pos.get(link.a), xb = pos.get(link.b);
    const depth = 16 + 22 * levels[i];
    const mid = (xa + xb) / 2;
    const path = el('path', {
      d: `M ${xa} ${base} Q ${mid} ${base + 2 * depth} ${xb} ${base}`, class: 'link-arc',
      'data-link': `${link.a}-${link.b}`,
    }, g);
    const tip = `rank ${link.a} ↔ rank ${link.b}: ${fmtNum(link.latency_us, 1)} µs, ${fmtNum(link.bandwidth_gbps, 2)} Gbit/s`;
    title(path, tip);
    const t = text(g, mid, base + depth + 4, `${fmtNum(link.latency_us, 0)} µs · ${fmtNum(link.bandwidth_gbps, 1)} Gbit/s`,
      { class: 'link-label', 'text-anchor': 'middle' });
    title(t, tip);
    bottom = Math.max(bottom, base + depth + 14);
  });
  return bottom + 6;
}

// Replaces the contents of `svg` with the picture of `cluster`.
export function renderSplit(svg, cluster) {
  while (svg.firstChild) svg.removeChild(svg.firstChild);
  const model = cluster.model || {};
  const stages = stagesOf(cluster);
  const nLayers = model.n_layers || stages.reduce((m, s) => Math.max(m, s.layers[1]), 0) || 1;
  const lw = layerWidth(nLayers, stages.length);
  const g = el('g', {}, svg);
  drawAxes(g, model);
  let x = GEOM.left;
  stages.forEach((stage, i) => {
    stage.title = stages.length > 1 ? `stage ${i}` : '';
    const w = drawStage(el('g', { class: 'stage', 'data-stage': i }, g), stage, model, x, lw);
    x += w + GEOM.stageGap;
  });
  x += GEOM.lmGap - GEOM.stageGap;
  drawLmHead(el('g', { class: 'lm-head' }, g), cluster, x);
  const width = x + GEOM.lmW + GEOM.right;
  const legendY = GEOM.top + GEOM.headsH + GEOM.gap + GEOM.ffnH + 32;
  const height = drawLegend(el('g', { class: 'legend' }, g), cluster, legendY, width);
  svg.setAttribute('viewBox', `0 0 ${width} ${height}`);
  svg.setAttribute('role', 'img');
  const summary = stages.map((s, i) => `stage ${i}: layers ${fmtRange(s.layers)} on ranks ` +
    s.ranks.map((n) => n.rank).join(', ')).join('; ');
  svg.setAttribute('aria-label', `${cluster.split || '?'} split of ${model.id || 'the model'}: ${summary}`);
}
