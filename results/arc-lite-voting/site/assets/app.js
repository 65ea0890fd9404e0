/* looped_hrm results site.
 *
 * Static and offline: data/report.js calls loopedHrmReport(data) with the tables, charts and
 * provenance of a results folder (looped_hrm/report/site/export.py); data/puzzles/<key>.js calls
 * loopedHrmPuzzles(key, payload) with one run's logged puzzles (puzzles.py), loaded by a <script>
 * tag when the reader opens that run (a page opened from disk may not fetch() a file beside it).
 * The state of the page (which page, the filters, the puzzle and segment shown) lives in the URL's
 * hash, so every view can be linked to and survives a reload. Nothing here computes a statistic:
 * every number shown comes from the exported frames.
 */
"use strict";

const PAGES = ["leaderboard", "comparisons", "buckets", "curves", "puzzles", "provenance"];
const FILTERS = ["task", "model", "halting", "seed"];
const COLORS = ["#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2", "#7f7f7f", "#bcbd22", "#17becf"];
const PAGE_SIZE = 50;

let DATA = null;
const puzzleFiles = {};    // run key -> payload
const puzzleWaiters = {};  // run key -> [callbacks]

// ------------------------------------------------------------------------------------- helpers

/** Append the nodes that exist (a table section is null when the table has no rows). */
function add(parent, ...nodes) {
  parent.append(...nodes.flat().filter((n) => n !== null && n !== undefined && n !== false));
}

function el(tag, attrs, ...children) {
  const node = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v === null || v === undefined || v === false) continue;
    if (k === "class") node.className = v;
    else if (k.startsWith("on")) node.addEventListener(k.slice(2), v);
    else node.setAttribute(k, v === true ? "" : v);
  }
  for (const child of children.flat()) {
    if (child === null || child === undefined || child === false) continue;
    node.append(child instanceof Node ? child : String(child));
  }
  return node;
}

const SVG = "http://www.w3.org/2000/svg";
function svg(tag, attrs, ...children) {
  const node = document.createElementNS(SVG, tag);
  for (const [k, v] of Object.entries(attrs || {})) if (v !== null && v !== undefined) node.setAttribute(k, v);
  for (const child of children.flat()) if (child) node.append(child instanceof Node ? child : String(child));
  return node;
}

/** A table cell's text with the Markdown's **bold** shown bold. */
function rich(text) {
  const parts = String(text).split("**");
  const span = el("span");
  parts.forEach((part, i) => { if (part) span.append(i % 2 ? el("strong", {}, part) : part); });
  return span;
}

/** The number a cell starts with ("56.1 [47.2, 67.7]" -> 56.1, "1,234" -> 1234, "—" -> null). */
function leadingNumber(text) {
  const m = String(text).replace(/\*\*/g, "").replace(/\u2212/g, "-").match(/^\s*([+-]?\d[\d,]*(?:\.\d+)?(?:e[+-]?\d+)?)/i);
  return m ? parseFloat(m[1].replace(/,/g, "")) : null;
}

function pct(x) { return x === null || x === undefined ? "—" : (100 * x).toFixed(1); }

// ---------------------------------------------------------------------------------------- state

function readHash() {
  const [page, query] = location.hash.replace(/^#/, "").split("?");
  const params = new URLSearchParams(query || "");
  return { page: PAGES.includes(page) ? page : "leaderboard", params };
}

function setHash(page, params) {
  const query = params.toString();
  const hash = "#" + page + (query ? "?" + query : "");
  if (location.hash !== hash) location.hash = hash; else render();
}

function update(changes) {
  const { page, params } = readHash();
  const next = changes.page || page;
  for (const [k, v] of Object.entries(changes)) {
    if (k === "page") continue;
    if (v === null || v === "" || v === undefined) params.delete(k); else params.set(k, v);
  }
  setHash(next, params);
}

function filterValue(name) { return readHash().params.get(name) || ""; }

/** Does a row with these task/model/halting/seed values pass the filters? (missing fields pass) */
function passes(row) {
  return FILTERS.every((f) => {
    const want = filterValue(f);
    return !want || row[f] === undefined || row[f] === null || String(row[f]) === want;
  });
}

// ------------------------------------------------------------------------------------- filters

function filterOptions() {
  const values = Object.fromEntries(FILTERS.map((f) => [f, new Set()]));
  for (const run of DATA.provenance.runs) FILTERS.forEach((f) => values[f].add(String(run[f])));
  return Object.fromEntries(FILTERS.map((f) => [f, [...values[f]].sort((a, b) => a.localeCompare(b, undefined, { numeric: true }))]));
}

function renderFilters() {
  const form = document.getElementById("filters");
  form.replaceChildren();
  const options = filterOptions();
  for (const f of FILTERS) {
    const current = filterValue(f);
    const select = el("select", { id: "filter-" + f, name: f, onchange: (e) => update({ [f]: e.target.value }) },
      el("option", { value: "" }, "all"),
      options[f].map((v) => el("option", { value: v, selected: v === current }, v)));
    form.append(el("label", {}, f, select));
  }
  const active = FILTERS.some((f) => filterValue(f));
  if (active) form.append(el("button", { type: "button", onclick: () => update(Object.fromEntries(FILTERS.map((f) => [f, null]))) }, "clear filters"));
  form.append(el("span", { class: "count" }, "Cells aggregate their seeds: the seed filter applies to runs and puzzles."));
}

// -------------------------------------------------------------------------------------- tables

/**
 * A sortable table of text cells. Rows are objects keyed by column name; `keep(row)` says which
 * to show (default: the filters on its task/model/halting/seed columns), `keepColumn(name)` which
 * columns, `cell(column, row, td)` may draw a cell itself, `onclick(row, tr)` makes rows clickable.
 */
function dataTable(table, opts = {}) {
  const wrap = el("div", { class: "scroll" });
  if (!table || !table.columns.length) { wrap.append(el("p", { class: "empty" }, "No rows.")); return wrap; }
  const columns = table.columns.filter((c) => !opts.keepColumn || opts.keepColumn(c));
  const objects = table.rows.map((r) => Object.fromEntries(table.columns.map((c, i) => [c, r[i]])));
  let rows = objects.filter(opts.keep || passes);
  const numeric = new Set(columns.filter((c) => objects.every((o) => o[c] === "—" || o[c] === "" || leadingNumber(o[c]) !== null) && objects.some((o) => leadingNumber(o[c]) !== null)));
  let sortBy = null, ascending = true;
  const tbody = el("tbody");
  const heads = columns.map((c) => el("th", { scope: "col", title: "sort by " + c, onclick: () => sort(c) }, c));
  const tableEl = el("table", { class: "data", "data-table": opts.name || "" }, el("thead", {}, el("tr", {}, heads)), tbody);
  const count = el("p", { class: "count" });

  function draw() {
    tbody.replaceChildren(...rows.map((o) => {
      const tr = el("tr", { "data-key": o.key || null, class: opts.onclick ? "clickable" : null },
        columns.map((c) => {
          const td = el("td", { class: numeric.has(c) ? "num" : null });
          if (opts.cell && opts.cell(c, o, td)) return td;
          td.append(rich(o[c] ?? ""));
          return td;
        }));
      if (opts.onclick) tr.addEventListener("click", () => opts.onclick(o, tr));
      return tr;
    }));
    count.textContent = `${rows.length} of ${objects.length} rows` + (rows.length < objects.length ? " (filtered)" : "");
  }
  function sort(c) {
    ascending = sortBy === c ? !ascending : !numeric.has(c);
    sortBy = c;
    const key = (o) => (numeric.has(c) ? leadingNumber(o[c]) : String(o[c]));
    rows = rows.slice().sort((a, b) => {
      const x = key(a), y = key(b);
      if (x === null || x === "—") return 1;
      if (y === null || y === "—") return -1;
      const d = numeric.has(c) ? x - y : x.localeCompare(y, undefined, { numeric: true });
      return ascending ? d : -d;
    });
    heads.forEach((h, i) => h.setAttribute("aria-sort", columns[i] === c ? (ascending ? "ascending" : "descending") : "none"));
    draw();
  }
  draw();
  wrap.append(tableEl, count);
  return wrap;
}

function section(table, opts = {}) {
  if (!table || !table.columns.length) return null;
  return el("section", { id: "table-" + (opts.name || "") },
    el("h2", {}, table.title),
    el("p", { class: "caption" }, table.caption, " Same as ", el("a", { href: "../" + table.source }, table.source), "."),
    dataTable(table, opts));
}

/** "model (halting)" -> {model, halting} (comparisons' A and B columns). */
function splitCell(text) {
  const m = String(text).match(/^(.*) \(([^()]*)\)$/);
  return m ? { model: m[1], halting: m[2] } : { model: text };
}

// ---------------------------------------------------------------------------------------- charts

function cellName(e) { return `${e.model} (${e.halting})${e.uses_labels ? " †" : ""}`; }

/**
 * A line chart with 95 % interval bars. `series`: [{label, points: [{x, y, lo, hi}]}].
 * `xTicks`: labels for integer x (categorical axes); `xLog`: the base of a log x axis; `yMin`: the y
 * axis reaches at least this high (an all-zero series stays readable); `marker`: a dashed line at x.
 */
function lineChart(title, series, { xLabel, yLabel, xTicks, xLog, marker, yMin = 1 } = {}) {
  const box = el("div", { class: "chart", "data-chart": title }, el("h3", {}, title));
  if (!series.length || typeof uPlot === "undefined") {
    box.append(el("p", { class: "empty" }, "No data."));
    return box;
  }
  const xs = [...new Set(series.flatMap((s) => s.points.map((p) => p.x)))].sort((a, b) => a - b);
  const at = new Map(xs.map((x, i) => [x, i]));
  const column = (s, field) => { const out = xs.map(() => null); s.points.forEach((p) => { out[at.get(p.x)] = p[field]; }); return out; };
  const data = [xs, ...series.map((s) => column(s, "y"))];
  const bars = series.map((s) => [column(s, "lo"), column(s, "hi")]);
  const errorBars = (u) => {
    const ctx = u.ctx;
    ctx.save();
    series.forEach((s, i) => {
      if (!u.series[i + 1].show) return;
      ctx.strokeStyle = COLORS[i % COLORS.length];
      ctx.lineWidth = 1.5 * devicePixelRatio;
      xs.forEach((x, j) => {
        const lo = bars[i][0][j], hi = bars[i][1][j];
        if (lo === null || hi === null || hi <= lo) return;
        const cx = u.valToPos(x, "x", true) + (i - (series.length - 1) / 2) * 2 * devicePixelRatio;
        const y0 = u.valToPos(lo, "y", true), y1 = u.valToPos(hi, "y", true);
        ctx.beginPath(); ctx.moveTo(cx, y0); ctx.lineTo(cx, y1);
        ctx.moveTo(cx - 3 * devicePixelRatio, y0); ctx.lineTo(cx + 3 * devicePixelRatio, y0);
        ctx.moveTo(cx - 3 * devicePixelRatio, y1); ctx.lineTo(cx + 3 * devicePixelRatio, y1);
        ctx.stroke();
      });
    });
    if (marker !== undefined && marker !== null) {
      const mx = u.valToPos(marker, "x", true);
      ctx.strokeStyle = "#888"; ctx.setLineDash([4, 4]); ctx.lineWidth = devicePixelRatio;
      ctx.beginPath(); ctx.moveTo(mx, u.bbox.top); ctx.lineTo(mx, u.bbox.top + u.bbox.height); ctx.stroke();
    }
    ctx.restore();
  };
  const yValues = series.flatMap((s) => s.points.flatMap((p) => [p.y, p.lo, p.hi])).filter((v) => v !== null);
  const opts = {
    width: 520,
    height: 280,
    scales: { x: { time: false, distr: xLog ? 3 : 1, log: xLog || 10 }, y: { range: [Math.min(0, ...yValues), Math.max(...yValues, yMin) * 1.05] } },
    axes: [
      { label: xLabel, values: xTicks ? (u, ticks) => ticks.map((t) => (Number.isInteger(t) && xTicks[t] !== undefined ? xTicks[t] : "")) : undefined,
        splits: xTicks ? () => xTicks.map((_, i) => i) : undefined },
      { label: yLabel },
    ],
    series: [{ label: xLabel }, ...series.map((s, i) => ({ label: s.label, stroke: COLORS[i % COLORS.length], width: 2, spanGaps: true, points: { show: true, size: 6 } }))],
    hooks: { draw: [errorBars] },
  };
  const holder = el("div");
  box.append(holder);
  new uPlot(opts, data, holder);
  return box;
}

function byTask(items) {
  const groups = new Map();
  for (const it of items) { if (!groups.has(it.task)) groups.set(it.task, []); groups.get(it.task).push(it); }
  return [...groups.entries()].sort((a, b) => a[0].localeCompare(b[0]));
}

function seriesByCell(items, point) {
  const groups = new Map();
  for (const it of items) {
    const name = cellName(it);
    if (!groups.has(name)) groups.set(name, []);
    groups.get(name).push(point(it));
  }
  return [...groups.entries()].sort((a, b) => a[0].localeCompare(b[0])).map(([label, points]) => ({ label, points }));
}

const asPct = (e) => ({ y: 100 * e.mean, lo: 100 * e.ci_low, hi: 100 * e.ci_high });
const asNum = (e) => ({ y: e.mean, lo: e.ci_low, hi: e.ci_high });

// ----------------------------------------------------------------------------------------- pages

function pageLeaderboard(main) {
  const t = DATA.tables;
  const keys = t.leaderboard.column_keys || {};
  add(main, 
    section(t.leaderboard, {
      name: "leaderboard",
      keepColumn: (c) => c === "task" || !keys[c] || passes(keys[c]),
    }),
    section(t.margins, {
      name: "margins",
      keepColumn: (c) => c === "task" || !(t.margins.column_keys || {})[c] || passes(t.margins.column_keys[c]),
    }),
    section(t.summary, { name: "summary" }),
    section(t.runs, {
      name: "runs",
      keepColumn: (c) => c !== "key",
      cell: (c, o, td) => {
        if (c !== "note") return false;
        if (o.note) td.append(o.note);
        if (runPuzzles(o.key)) td.append(el("a", { href: puzzleLink(o.key, { outcome: "wrong" }), title: "the test puzzles this run got wrong" }, "wrong puzzles"));
        return true;
      },
    }),
    section(t.task_metrics, { name: "task_metrics" }));
}

function pageComparisons(main) {
  add(main, section(DATA.tables.comparisons, {
    name: "comparisons",
    keep: (o) => passes({ task: o.task }) && (passes(splitCell(o.A)) || passes(splitCell(o.B))),
  }) || el("p", { class: "empty" }, "No pairs of cells on the same test examples."));
}

function pageBuckets(main) {
  const charts = el("div", { class: "charts" });
  for (const [task, names] of Object.entries(DATA.buckets).sort()) {
    if (filterValue("task") && filterValue("task") !== task) continue;
    const mine = (measure) => DATA.charts.by_bucket.filter((e) => e.task === task && e.measure === measure && e.bucket_index >= 0 && passes(e));
    const acc = mine("exact_accuracy"), seg = mine("mean_segments");
    const point = (f) => (e) => ({ x: e.bucket_index, ...f(e) });
    charts.append(
      lineChart(`${task}: exact accuracy by bucket (%)`, seriesByCell(acc, point(asPct)), { xLabel: "bucket (easy → hard)", yLabel: "exact acc %", xTicks: names, yMin: 10 }),
      lineChart(`${task}: segments by bucket`, seriesByCell(seg, point(asNum)), { xLabel: "bucket (easy → hard)", yLabel: "segments", xTicks: names }));
  }
  add(main, el("h2", {}, "Accuracy and segments by difficulty bucket"),
    el("p", { class: "caption" }, "Under the halting policy; mean over seeds and test puzzles, bars: 95 % interval (", DATA.method, ")."),
    charts, section(DATA.tables.buckets, { name: "buckets" }), section(DATA.tables.gap, { name: "gap" }));
}

function pageCurves(main) {
  const { params } = readHash();
  const xAxis = params.get("x") === "flops" ? "flops" : "step";
  const toggle = el("label", {}, "learning curves against ",
    el("select", { id: "curve-x", onchange: (e) => update({ x: e.target.value === "flops" ? "flops" : null }) },
      el("option", { value: "step", selected: xAxis === "step" }, "optimizer steps"),
      el("option", { value: "flops", selected: xAxis === "flops" }, "training FLOPs")));
  const learning = el("div", { class: "charts" });
  for (const [task, points] of byTask(DATA.curves.filter(passes))) {
    const series = seriesByCell(points, (p) => ({ x: xAxis === "flops" ? p.train_flops : p.step, ...asPct(p) }));
    learning.append(lineChart(`${task}: test exact accuracy during training (%)`, series,
      { xLabel: xAxis === "flops" ? "training FLOPs" : "optimizer steps", yLabel: "exact acc %", xLog: xAxis === "flops" ? 10 : 0, yMin: 10 }));
  }
  const scaling = el("div", { class: "charts" });
  const atK = DATA.charts.scaling.filter(passes);
  const trained = DATA.charts.trained_segments.filter(passes);
  for (const [task, items] of byTask(atK)) {
    const series = seriesByCell(items, (e) => ({ x: e.segments, ...asPct(e) }));
    const caps = [...new Set(trained.filter((e) => e.task === task).map((e) => e.mean))];
    scaling.append(lineChart(`${task}: exact accuracy vs segments at test time (%)`, series,
      { xLabel: "segments (every puzzle run to this many)", yLabel: "exact acc %", xLog: 2, yMin: 10, marker: caps.length === 1 ? caps[0] : null }));
  }
  add(main, 
    el("h2", {}, "Learning curves"),
    el("p", { class: "caption" }, "Test exact accuracy (policy-halted) at fractions of each run's training budget; mean over seeds, bars: 95 % interval. Equal steps are not equal compute: switch the axis to training FLOPs. ", toggle),
    learning.childElementCount ? learning : el("p", { class: "empty" }, "No learning curves in these records."),
    el("h2", {}, "Accuracy vs segments"),
    el("p", { class: "caption" }, "Every test puzzle run to a fixed number of segments (no halting): does more test-time compute help, or does the model overthink? Dashed: the segments it was trained with."),
    scaling.childElementCount ? scaling : el("p", { class: "empty" }, "No fixed-segment evaluations in these records."),
    section(DATA.tables.curve_summary, { name: "curve_summary" }));
}

function pageProvenance(main) {
  const p = DATA.provenance;
  const runs = p.runs.filter(passes);
  const machines = new Map();
  for (const r of runs) {
    const id = JSON.stringify(r.environment);
    if (!machines.has(id)) machines.set(id, { env: r.environment, n: 0 });
    machines.get(id).n += 1;
  }
  const envKeys = [...new Set(runs.flatMap((r) => Object.keys(r.environment)))];
  const detail = el("div", { id: "run-detail" });
  const table = {
    columns: ["task", "model", "halting", "seed", "status", "commit", "data (train / test)", "finished", "key"],
    rows: runs.map((r) => [r.task, r.model, r.halting, String(r.seed), r.status, String(r.environment.git_commit || "—").slice(0, 10) + (r.environment.git_dirty || String(r.environment.git_commit || "").endsWith("-dirty") ? " (dirty)" : ""),
      Object.entries(r.data || {}).map(([k, v]) => `${k} ${v}`).join(" / ") || "—", r.finished_at || "—", r.key]),
  };
  add(main, 
    el("h2", {}, "Provenance"),
    el("p", { class: "caption" }, "Command: ", el("code", {}, p.command || "(not recorded)")),
    el("p", { class: "caption" }, p.scope),
    el("p", { class: "caption" }, p.commits || ""),
    el("p", { class: "caption" }, "Intervals: ", DATA.method, "."),
    el("h3", {}, `Machines and software (${machines.size})`),
    dataTable({ columns: [...envKeys, "runs"], rows: [...machines.values()].map((m) => [...envKeys.map((k) => String(m.env[k] ?? "—")), String(m.n)]) }, { name: "machines" }),
    el("h3", {}, "Runs: commit, data fingerprint, resolved config"),
    el("p", { class: "caption" }, "Click a run for its full resolved configuration and environment (as stored in its record, runs/<key>.json)."),
    dataTable(table, {
      name: "provenance",
      onclick: (o, tr) => {
        tr.parentNode.querySelectorAll("tr.selected").forEach((x) => x.classList.remove("selected"));
        tr.classList.add("selected");
        const run = p.runs.find((r) => r.key === o.key);
        detail.replaceChildren(el("h3", {}, `${run.task} / ${run.model} / ${run.halting} / seed ${run.seed}`),
          el("pre", {}, JSON.stringify({ key: run.key, seed: Number(run.seed), data: run.data, environment: run.environment, combination: p.configs[run.config] }, null, 1)));
      },
    }),
    detail);
}

// ---------------------------------------------------------------------------------------- puzzles

function runPuzzles(key) { return DATA.puzzles.find((r) => r.key === key) || null; }

function puzzleLink(key, extra = {}) {
  const params = new URLSearchParams(readHash().params);
  params.set("run", key);
  for (const k of ["bucket", "outcome", "stop", "p", "seg", "page"]) params.delete(k);
  for (const [k, v] of Object.entries(extra)) params.set(k, v);
  return "#puzzles?" + params.toString();
}

function loadPuzzles(run, done) {
  if (puzzleFiles[run.key]) { done(puzzleFiles[run.key]); return; }
  (puzzleWaiters[run.key] = puzzleWaiters[run.key] || []).push(done);
  if (puzzleWaiters[run.key].length > 1) return;
  const script = el("script", { src: run.file });
  script.onerror = () => { console.warn("cannot load " + run.file); };
  document.body.append(script);
}

// called by data/puzzles/<key>.js
function loopedHrmPuzzles(key, payload) {
  puzzleFiles[key] = { ...payload, list: unpackPuzzles(payload) };
  (puzzleWaiters[key] || []).forEach((cb) => cb(puzzleFiles[key]));
  delete puzzleWaiters[key];
}

const ALPHABET = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz-_";

/** The file's columns (one list per fact) as one object per puzzle. */
function unpackPuzzles(payload) { return rowsOf(payload.puzzles); }

/**
 * The drawn cells of every frame [input, segment 1..n, label?] as glyph ids, and each frame's links:
 * a frame is a string of glyph ids or a list of [cell, glyph, ...] changes to the frame it builds on
 * (the previous one; the input for the label) — see looped_hrm/report/site/puzzles.py.
 */
function frameStates(puzzle, width) {
  const spell = (text) => {
    const ids = [];
    for (let i = 0; i < text.length; i += width) {
      let id = 0;
      for (let k = 0; k < width; k++) id = id * ALPHABET.length + ALPHABET.indexOf(text[i + k]);
      ids.push(id);
    }
    return ids;
  };
  const last = puzzle.frames.length - 1;
  const baseOf = (f) => (puzzle.has_label && f === last ? 0 : f - 1);
  const states = [], links = [];
  puzzle.frames.forEach((frame, f) => {
    if (typeof frame === "string") states.push(spell(frame));
    else {
      const cells = states[baseOf(f)].slice();
      for (let j = 0; j < frame.length; j += 2) cells[frame[j]] = frame[j + 1];
      states.push(cells);
    }
    const own = puzzle.links ? puzzle.links[f] : [];
    links.push(own === null ? links[baseOf(f)] : own);
  });
  const label = puzzle.has_label ? { cells: states.pop(), links: links.pop() } : null;
  return { states, links, label };
}

/** Cells outlined as changed by segment k (stored where they differ from the drawn changes). */
function changedCells(puzzle, states, k) {
  if (k === 0) return [];
  const stored = puzzle.changed[k - 1];
  if (stored !== null && stored !== undefined) return stored;
  return states[k].flatMap((g, i) => (g !== states[k - 1][i] ? [i] : []));
}

function drawGrid(puzzle, file, cells, { links = [], changed = [], name = "" } = {}) {
  const h = puzzle.height, w = puzzle.width;
  const s = Math.max(8, Math.min(34, Math.floor(300 / Math.max(h, w))));
  const root = svg("svg", { width: w * s + 2, height: h * s + 2, viewBox: `-1 -1 ${w * s + 2} ${h * s + 2}`, class: "grid", "data-name": name, role: "img" });
  const plain = !puzzle.cellwise;
  const palette = file.colours;
  cells.forEach((glyph, i) => {
    const [fill, text, ink] = file.glyphs[glyph];
    const r = Math.floor(i / w), c = i % w;
    root.append(svg("rect", { x: c * s, y: r * s, width: s, height: s, fill: palette[fill], stroke: plain ? "none" : "#c8cdd4", "stroke-width": 0.5 }));
    if (text) {
      root.append(svg("text", { x: c * s + s / 2, y: r * s + s / 2, "text-anchor": "middle", "dominant-baseline": "central",
        "font-size": plain ? s * 0.9 : s * 0.6, "font-family": "ui-monospace, monospace", fill: palette[ink] }, text));
    }
  });
  if (puzzle.box) {
    const [br, bc, r0, c0] = puzzle.box;
    for (let r = 0; r <= h; r++) if ((r + r0) % br === 0) root.append(svg("line", { x1: 0, y1: r * s, x2: w * s, y2: r * s, stroke: "#222", "stroke-width": 2 }));
    for (let c = 0; c <= w; c++) if ((c + c0) % bc === 0) root.append(svg("line", { x1: c * s, y1: 0, x2: c * s, y2: h * s, stroke: "#222", "stroke-width": 2 }));
  }
  for (let j = 0; j + 3 < (links || []).length; j += 4) {
    const [ra, ca, rb, cb] = links.slice(j, j + 4);
    root.append(svg("line", { x1: ca * s + s / 2, y1: ra * s + s / 2, x2: cb * s + s / 2, y2: rb * s + s / 2, stroke: "#e67300", "stroke-width": Math.max(2, s / 6), "stroke-linecap": "round" }));
  }
  for (const i of changed) {
    const r = Math.floor(i / w), c = i % w;
    root.append(svg("rect", { x: c * s + 1, y: r * s + 1, width: s - 2, height: s - 2, fill: "none", stroke: "#d91a1a", "stroke-width": 2, class: "changed" }));
  }
  return root;
}

function haltingStrip(puzzle, cap, segment) {
  const n = Math.max(cap || 0, puzzle.halted_at);
  const bw = 26, hgt = 60;
  const root = svg("svg", { width: n * bw + 40, height: hgt + 30, class: "halting-chart" });
  root.append(svg("line", { x1: 30, y1: 5 + hgt / 2, x2: 30 + n * bw, y2: 5 + hgt / 2, stroke: "#bbb", "stroke-dasharray": "3 3" }));
  root.append(svg("text", { x: 0, y: 10 }, "1"), svg("text", { x: 0, y: 5 + hgt / 2 + 3 }, "0.5"), svg("text", { x: 0, y: hgt + 5 }, "0"));
  for (let k = 1; k <= n; k++) {
    const p = puzzle.halt_probs ? puzzle.halt_probs[k - 1] : null;
    const x = 30 + (k - 1) * bw;
    const reached = k <= puzzle.halted_at;
    if (p !== null && p !== undefined) {
      root.append(svg("rect", { x: x + 3, y: 5 + hgt * (1 - p), width: bw - 6, height: Math.max(1, hgt * p),
        fill: k === puzzle.halted_at ? "#d62728" : "#1f77b4", opacity: k === segment ? 1 : 0.55 }, svg("title", {}, `segment ${k}: p(halt) ${p}`)));
    }
    root.append(svg("text", { x: x + bw / 2, y: hgt + 20, "text-anchor": "middle", "font-weight": k === segment ? "bold" : null, fill: reached ? null : "#bbb" }, String(k)));
  }
  return root;
}

/** The task's verdict on segment k's answer, and whether it equals the label. */
function verdictText(puzzle, k) {
  const v = puzzle.verified_steps[k - 1], c = puzzle.correct_steps[k - 1];
  const parts = [];
  if (v !== "-") parts.push(el("span", { class: v === "1" ? "verdict-ok" : "verdict-bad", id: "segment-verdict" }, "verifier: " + (v === "1" ? "valid" : "invalid")));
  parts.push(el("span", { class: c === "1" ? "verdict-ok" : "verdict-bad" }, "label: " + (c === "1" ? "match" : "differs")));
  return parts.flatMap((p, i) => (i ? [", ", p] : [p]));
}

function pagePuzzles(main) {
  const { params } = readHash();
  const runs = DATA.puzzles.filter(passes);
  if (!DATA.puzzles.length) {
    add(main, el("h2", {}, "Puzzles"), el("p", { class: "empty" }, "No run of this folder was logged with --log-samples. Rerun its command with --log-samples (a finished run whose checkpoint is still in work/ is re-evaluated, not retrained), then report DIR --html."));
    return;
  }
  const key = params.get("run") && runs.some((r) => r.key === params.get("run")) ? params.get("run") : (runs[0] || {}).key;
  // another run of the same task shows the same test puzzle: compare two models puzzle by puzzle
  const sameTask = (other) => runPuzzles(other).task === runPuzzles(key).task;
  const keep = (other) => (sameTask(other) ? Object.fromEntries(["p", "seg"].filter((k) => params.get(k) !== null).map((k) => [k, params.get(k)])) : {});
  const runSelect = el("select", { id: "puzzle-run", onchange: (e) => { location.hash = puzzleLink(e.target.value, keep(e.target.value)); } },
    runs.map((r) => el("option", { value: r.key, selected: r.key === key }, `${r.task} / ${r.model} / ${r.halting} / seed ${r.seed}`)));
  add(main, el("h2", {}, "Puzzles"),
    el("p", { class: "caption" }, "Every logged test puzzle drawn as its task draws it, the model's answer after each segment (changed cells outlined in red), its halting signal, where the policy stopped it, and the task's verdict."),
    el("div", { class: "controls" }, el("label", {}, "run", runSelect)));
  if (!key) { add(main, el("p", { class: "empty" }, "No run with puzzles passes the filters.")); return; }
  const run = runPuzzles(key);
  const holder = el("div", { class: "browser" }, el("p", {}, "loading…"));
  add(main, holder);
  loadPuzzles(run, (payload) => { if (readHash().params.get("run") === key || !readHash().params.get("run")) drawBrowser(holder, run, payload, params); });
}

function drawBrowser(holder, run, payload, params) {
  const bucket = params.get("bucket") || "", outcome = params.get("outcome") || "", stop = params.get("stop") || "";
  const cap = run.cap;
  const keep = payload.list.filter((p) =>
    (!bucket || String(p.bucket) === bucket) &&
    (!outcome || (outcome === "correct") === p.correct) &&
    (!stop || (stop === "cap") === (cap !== null && p.halted_at >= cap)));
  const buckets = [...new Set(payload.list.map((p) => String(p.bucket)))];
  const select = (id, name, value, options) => el("label", {}, name, el("select", { id, onchange: (e) => update({ [id.replace("puzzle-", "")]: e.target.value, p: null, seg: null, page: null }) },
    options.map(([v, text]) => el("option", { value: v, selected: v === value }, text))));
  const pages = Math.max(1, Math.ceil(keep.length / PAGE_SIZE));
  const pageNo = Math.min(pages, Math.max(1, parseInt(params.get("page") || "1", 10) || 1));
  const chosenIndex = params.get("p") !== null ? parseInt(params.get("p"), 10) : (keep[0] ? keep[0].index : null);
  const chosen = keep.find((p) => p.index === chosenIndex) || payload.list.find((p) => p.index === chosenIndex) || null;
  const list = el("ul", { class: "plist", id: "puzzle-list" }, keep.slice((pageNo - 1) * PAGE_SIZE, pageNo * PAGE_SIZE).map((p) =>
    el("li", { "data-index": p.index, class: chosen && p.index === chosen.index ? "selected" : null, onclick: () => update({ p: p.index, seg: null }) },
      el("span", {}, "#" + p.index), el("span", {}, String(p.bucket)),
      el("span", { class: p.correct ? "ok" : "wrong" }, p.correct ? "✓ correct" : "✗ wrong"),
      el("span", {}, `stop ${p.halted_at}/${cap ?? "?"}`))));
  const left = el("div", {},
    el("div", { class: "controls" },
      select("puzzle-bucket", "bucket", bucket, [["", "all"], ...buckets.map((b) => [b, b])]),
      select("puzzle-outcome", "answer", outcome, [["", "all"], ["correct", "correct"], ["wrong", "wrong"]]),
      select("puzzle-stop", "halted", stop, [["", "all"], ["early", "early (before the cap)"], ["cap", `at the cap (${cap ?? "?"})`]])),
    el("p", { class: "count", id: "puzzle-count" }, `${keep.length} of ${payload.list.length} puzzles shown` +
      (run.shown < run.total ? ` (the site holds ${run.shown} of this run's ${run.total} logged puzzles)` : "")),
    list,
    pages > 1 ? el("div", { class: "pager" },
      el("button", { type: "button", disabled: pageNo <= 1, onclick: () => update({ page: pageNo - 1 }) }, "‹ previous"),
      el("span", {}, `page ${pageNo} of ${pages}`),
      el("button", { type: "button", disabled: pageNo >= pages, onclick: () => update({ page: pageNo + 1 }) }, "next ›")) : null);
  const right = el("div", { class: "viewer", id: "viewer" });
  holder.replaceChildren(left, right);
  if (chosen) drawPuzzle(right, run, payload, chosen, params);
  else right.append(el("p", { class: "empty" }, "No puzzle passes these filters."));
}

function drawPuzzle(box, run, file, puzzle, params) {
  const { states, links, label } = frameStates(puzzle, file.glyph_width);
  const last = states.length - 1;
  const seg = Math.min(last, Math.max(0, params.get("seg") !== null ? parseInt(params.get("seg"), 10) || 0 : Math.min(1, last)));
  const changed = changedCells(puzzle, states, seg);
  const stepTo = (k) => update({ seg: Math.min(last, Math.max(0, k)) });
  const atCap = run.cap !== null && puzzle.halted_at >= run.cap;
  const where = atCap ? `ran to the cap of ${run.cap} segments` : `halted early, after segment ${puzzle.halted_at} of at most ${run.cap ?? "?"}`;
  const prob = seg > 0 && puzzle.halt_probs ? `; p(halt) ${puzzle.halt_probs[seg - 1].toFixed(4)}` : "";
  const panels = el("div", { class: "panels" },
    el("figure", { class: "panel" }, drawGrid(puzzle, file, states[0], { links: links[0], name: "input" }), el("figcaption", {}, "input")),
    el("figure", { class: "panel", id: "prediction" },
      drawGrid(puzzle, file, states[seg], { links: links[seg], changed, name: "segment " + seg }),
      el("figcaption", {}, seg === 0 ? "before the first segment (the input)" :
        [`after segment ${seg}: ${changed.length} cell${changed.length === 1 ? "" : "s"} changed${prob}`,
          seg === puzzle.halted_at ? (atCap ? " — the evaluation stops here (the cap)" : " — the policy stops here") : "", el("br"), ...verdictText(puzzle, seg)])),
    label ? el("figure", { class: "panel" }, drawGrid(puzzle, file, label.cells, { links: label.links, name: "label" }), el("figcaption", {}, "label (the stored answer)")) : null);
  const slider = el("input", { type: "range", id: "segment-slider", min: 0, max: last, value: seg, "aria-label": "segment", oninput: (e) => stepTo(parseInt(e.target.value, 10)) });
  box.replaceChildren(
    el("h3", { id: "puzzle-title" }, `Test puzzle #${puzzle.index}`),
    el("p", { class: "facts" }, `bucket ${puzzle.bucket}, difficulty ${Number(puzzle.difficulty.toPrecision(4))}; ${where}; final answer: `,
      el("span", { class: puzzle.correct ? "verdict-ok" : "verdict-bad" }, puzzle.correct ? "correct" : "wrong"),
      puzzle.verified === null ? "" : [", verifier: ", el("span", { class: puzzle.verified ? "verdict-ok" : "verdict-bad" }, puzzle.verified ? "valid" : "invalid")],
      `; token accuracy ${pct(puzzle.token_accuracy)} %` + (puzzle.inner_steps ? `; ${puzzle.inner_steps} inner steps` : "")),
    el("div", { class: "stepper" },
      el("button", { type: "button", id: "segment-prev", disabled: seg <= 0, onclick: () => stepTo(seg - 1) }, "◀ previous"),
      slider,
      el("button", { type: "button", id: "segment-next", disabled: seg >= last, onclick: () => stepTo(seg + 1) }, "next ▶"),
      el("span", { id: "segment-label" }, seg === 0 ? "input" : `segment ${seg} of ${last}`)),
    panels,
    el("div", { class: "halting" }, el("h3", {}, "Halting signal: p(halt) after each segment"),
      puzzle.halt_probs ? haltingStrip(puzzle, run.cap, seg) : el("p", { class: "empty" }, "This model has no halting head."),
      el("p", { class: "caption" }, "Red: the segment where the evaluation stopped; grey numbers: segments it did not run. ",
        el("span", { class: "legend-swatch" }), "cells changed by the segment shown.")));
}

// ----------------------------------------------------------------------------------------- entry

const RENDER = { leaderboard: pageLeaderboard, comparisons: pageComparisons, buckets: pageBuckets, curves: pageCurves, puzzles: pagePuzzles, provenance: pageProvenance };

function render() {
  if (!DATA) return;
  const { page } = readHash();
  document.querySelectorAll("#nav a").forEach((a) => a.classList.toggle("current", a.dataset.page === page));
  renderFilters();
  const main = document.getElementById("page");
  main.replaceChildren();
  main.dataset.page = page;
  RENDER[page](main);
}

/** One list per column -> one object per row. */
function rowsOf(columns) {
  const names = Object.keys(columns);
  const n = names.length ? columns[names[0]].length : 0;
  return Array.from({ length: n }, (_, i) => Object.fromEntries(names.map((k) => [k, columns[k][i]])));
}

// called by data/report.js
function loopedHrmReport(data) {
  const charts = Object.fromEntries(["by_bucket", "scaling", "trained_segments"].map((k) => [k, rowsOf((data.charts || {})[k] || {})]));
  DATA = { ...data, charts, curves: rowsOf(data.curves) };
  document.title = data.title + " — looped_hrm results";
  document.getElementById("title").textContent = data.title;
  render();
}

window.addEventListener("hashchange", render);
document.addEventListener("keydown", (e) => {
  if (readHash().page !== "puzzles" || e.target.tagName === "SELECT" || e.target.tagName === "INPUT") return;
  const next = document.getElementById(e.key === "ArrowRight" ? "segment-next" : e.key === "ArrowLeft" ? "segment-prev" : "");
  if (next && !next.disabled) next.click();
});
