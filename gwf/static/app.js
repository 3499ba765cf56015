// gwfactory dashboard: plain JS over the /api routes and the /api/events live feed.
"use strict";

const $ = (sel, root = document) => root.querySelector(sel);
const SVG_NS = "http://www.w3.org/2000/svg";
const CATEGORY_COLOUR = { compute: "#2563eb", cooling: "#0891b2", power: "#d97706" };
// The journal's states; `blocked` = the controller could not be reached, outcome unknown, re-sent next run.
const STATE_COLOUR = { queued: "#9ca3af", underway: "#2563eb", completed: "#16a34a", blocked: "#d97706", failed: "#dc2626", canceled: "#7c2d12" };
const state = { jobs: {}, watched: {}, finished: {}, schedule: null, util: null, liveOk: false };

// ---------- small helpers ----------
async function api(method, path, body) {
  const init = { method, headers: authHeaders() };
  if (body !== undefined) {
    init.headers["content-type"] = typeof body === "string" ? "application/yaml" : "application/json";
    init.body = typeof body === "string" ? body : JSON.stringify(body);
  }
  const response = await fetch(path, init);
  let data = null;
  try { data = await response.json(); } catch (_) { /* HTML or empty */ }
  if (response.status === 401) showSignIn((data && data.detail) || "sign in");
  return { ok: response.ok, status: response.status, data };
}

function el(tag, attrs = {}, text) {
  const node = document.createElementNS(SVG_NS, tag);
  for (const [k, v] of Object.entries(attrs)) node.setAttribute(k, v);
  if (text !== undefined) node.textContent = text;
  return node;
}

function titled(node, text) { node.appendChild(el("title", {}, text)); return node; }

function clear(node) { while (node.firstChild) node.removeChild(node.firstChild); return node; }

function fmt(x, digits = 1) {
  if (x === null || x === undefined || Number.isNaN(x)) return "–";
  return Number(x).toLocaleString(undefined, { maximumFractionDigits: digits });
}

// Three significant digits below 1 (a tiny test floor's 0.000931 GW), fewer decimals above.
function fmtAuto(x) {
  if (x === null || x === undefined || Number.isNaN(x)) return "–";
  if (Math.abs(x) < 1 && x !== 0) return String(Number(Number(x).toPrecision(3)));
  return fmt(x, Math.abs(x) >= 100 ? 0 : 1);
}

// GW figures are compared with a target to a few MW: four significant digits.
function fmtGw(x) { return x === null || x === undefined || Number.isNaN(x) ? "–" : String(Number(Number(x).toPrecision(4))); }

function hours(seconds) { return `${fmt(seconds / 3600, 1)} h`; }

function hue(text) {
  let h = 0;
  for (const ch of text) h = (h * 31 + ch.charCodeAt(0)) % 360;
  return `hsl(${h},60%,55%)`;
}

function heat(share) { return `hsl(${210 - 210 * share},70%,${92 - 47 * share}%)`; }

// Horizontal bars: rows = [{label, value, colour, note}]
function barsChart(svg, rows, { width = 420, unit = "" } = {}) {
  clear(svg);
  const label = 130, rowH = 18, max = Math.max(1e-9, ...rows.map(r => r.value));
  svg.setAttribute("width", width); svg.setAttribute("height", rows.length * rowH + 4);
  rows.forEach((r, i) => {
    const y = i * rowH, w = (width - label - 60) * r.value / max;
    svg.appendChild(el("text", { x: label - 6, y: y + 13, "text-anchor": "end" }, r.label));
    svg.appendChild(titled(el("rect", { x: label, y: y + 3, width: Math.max(1, w), height: rowH - 6, fill: r.colour || "#2563eb", rx: 2 }), `${r.label}: ${fmt(r.value)}${unit}`));
    svg.appendChild(el("text", { x: label + w + 4, y: y + 13 }, `${fmtAuto(r.value)}${unit}`));
  });
}

// Grouped bars per category: series = [{name, values: {cat: v}, lo?: {cat: v}, hi?: {cat: v}, opacity}], plus an optional target line per category.
function groupedChart(svg, categories, series, { width = 420, height = 170, target = null } = {}) {
  clear(svg);
  const pad = 28, base = height - 22, groupW = (width - pad) / Math.max(1, categories.length);
  const values = series.flatMap(s => categories.map(c => (s.hi && s.hi[c]) || s.values[c] || 0));
  if (target) values.push(...categories.map(c => target[c] || 0));
  const max = Math.max(1e-9, ...values) * 1.05, scale = v => (base - 34) * v / max;
  svg.setAttribute("width", width); svg.setAttribute("height", height);
  svg.appendChild(el("line", { x1: pad, x2: width, y1: base, y2: base, class: "axis" }));
  categories.forEach((cat, g) => {
    const x0 = pad + g * groupW + 8, barW = (groupW - 16) / series.length;
    series.forEach((s, k) => {
      const v = s.values[cat] || 0, x = x0 + k * barW;
      svg.appendChild(titled(el("rect", { x, y: base - scale(v), width: barW - 4, height: scale(v), fill: CATEGORY_COLOUR[cat] || "#64748b", "fill-opacity": s.opacity ?? 1, rx: 2 }), `${s.name} ${cat}: ${fmt(v)} MW`));
      if (s.lo && s.hi && s.lo[cat] !== undefined) {
        const cx = x + (barW - 4) / 2, y1 = base - scale(s.lo[cat]), y2 = base - scale(s.hi[cat]);
        svg.appendChild(el("line", { x1: cx, x2: cx, y1, y2, stroke: "#111", "stroke-width": 1.5 }));
        for (const y of [y1, y2]) svg.appendChild(el("line", { x1: cx - 5, x2: cx + 5, y1: y, y2: y, stroke: "#111", "stroke-width": 1.5 }));
      }
      svg.appendChild(el("text", { x: x + (barW - 4) / 2, y: base - scale(v) - 3, "text-anchor": "middle" }, fmtAuto(v)));
    });
    if (target && target[cat] !== undefined) {
      const y = base - scale(target[cat]);
      svg.appendChild(titled(el("line", { x1: x0 - 4, x2: x0 + groupW - 12, y1: y, y2: y, stroke: "#111", "stroke-dasharray": "4 3" }), `target ${cat}: ${fmt(target[cat])} MW`));
    }
    svg.appendChild(el("text", { x: x0 + (groupW - 16) / 2, y: base + 15, "text-anchor": "middle" }, cat));
  });
  let lx = pad;
  for (const s of series) {
    svg.appendChild(el("rect", { x: lx, y: 2, width: 10, height: 10, fill: "#64748b", "fill-opacity": s.opacity ?? 1 }));
    svg.appendChild(el("text", { x: lx + 14, y: 11 }, s.name));
    lx += 24 + 8 * s.name.length;
  }
  if (target) { svg.appendChild(el("line", { x1: lx, x2: lx + 16, y1: 7, y2: 7, stroke: "#111", "stroke-dasharray": "4 3" })); svg.appendChild(el("text", { x: lx + 20, y: 11 }, "target")); }
}

// ---------- errors shown inline, naming the field ----------
function showError(form, scope, problem) {
  const box = $(`[data-error-for="${scope}"]`, form);
  form.querySelectorAll(".invalid").forEach(n => n.classList.remove("invalid"));
  if (!problem) { box.textContent = ""; return; }
  box.textContent = problem.detail || String(problem);
  const field = (problem.field || "").split(/[.\[]/)[0];
  const input = field && form.elements.namedItem(field);
  if (input) {
    input.classList.add("invalid");
    const details = input.closest("details");
    if (details) details.open = true;
  }
}

function formBody(form, numeric) {
  const body = {};
  for (const [name, value] of new FormData(form).entries()) {
    if (value === "") continue;
    body[name] = numeric.includes(name) ? Number(value) : value;
  }
  return body;
}

// ---------- jobs and live progress ----------
function watch(kind, job) { state.watched[kind] = job.id; updateJob(job); }

// Events can arrive before the POST's own answer: keep the most advanced record of each job,
// then draw every panel that watches it.
function updateJob(job) {
  const known = state.jobs[job.id];
  if (!known || rank(job.status) >= rank(known.status)) state.jobs[job.id] = job;
  for (const [kind, id] of Object.entries(state.watched)) if (id === job.id) drawJob(kind, state.jobs[id]);
}

function drawJob(kind, job) {
  const box = $(`#${kind}-job`);
  box.hidden = false;
  box.className = `job ${job.status}`;
  $(".bar > div", box).style.width = `${Math.round(100 * job.progress.fraction)}%`;
  $(".status", box).textContent = job.status;
  const message = job.status === "failed" ? job.error : job.progress.message;
  $(".message", box).textContent = message === job.status ? "" : message;
  const cancel = $(".cancel", box);
  cancel.hidden = !may("cancel") || !(job.status === "queued" || job.status === "running");
  cancel.onclick = async () => { cancel.disabled = true; const r = await api("POST", `/api/jobs/${job.id}/cancel`); if (r.ok) updateJob(r.data); cancel.disabled = false; };
  if (job.status === "done" && state.finished[kind] !== job.id) {
    state.finished[kind] = job.id;
    onDone(kind, job);
  }
}

function rank(status) { return { queued: 0, running: 1, done: 2, failed: 2, cancelled: 2 }[status] ?? 0; }
function finished(status) { return rank(status) === 2; }

function onDone(kind, job) {
  if (kind === "plan") loadSchedules(job.result.schedule_id);
  if (kind === "twin") renderTwin(job.result);
  if (kind === "dispatch") renderDispatch({ counts: job.result.counts, total: job.result.jobs });
}

function startLiveFeed() {
  const chip = $("#chip-live");
  state.feed = true;
  liveFeed({
    job: updateJob,
    dispatch: data => { if (data.dispatch_id === state.watched.dispatch) renderDispatch(data); },
  }, ok => {
    state.liveOk = ok;
    chip.textContent = ok ? "live" : "live feed lost, polling";
    chip.className = `chip ${ok ? "on" : "off"}`;
  }).finally(() => { state.feed = false; });  // ends only when signed out; a new sign-in restarts it
}

// Polling backs the live feed up: a job whose events were missed still finishes on screen.
async function pollWatched() {
  for (const id of Object.values(state.watched)) {
    const job = state.jobs[id];
    if (job && finished(job.status)) continue;
    const r = await api("GET", `/api/jobs/${id}`);
    if (r.ok) updateJob(r.data);
  }
}

async function submitJob(form, scope, path, body) {
  showError(form, scope, null);
  const button = $("button[type=submit]", form);
  button.disabled = true;
  try {
    const r = await api("POST", path, body);
    if (r.status === 202) watch(scope, r.data);
    else showError(form, scope, r.data || { detail: `HTTP ${r.status}` });
  } finally { button.disabled = false; }
}

// ---------- the factory at a glance ----------
async function loadSpec() {
  const [health, spec] = await Promise.all([api("GET", "/api/health"), api("GET", "/api/spec")]);
  if (health.ok) {
    chip("#chip-planner", health.data.planner ? "planner ready" : "no planner in this build", !!health.data.planner);
    chip("#chip-twin", health.data.twin ? "twin ready" : "no twin in this build", !!health.data.twin);
  }
  if (!spec.ok) return;
  const s = spec.data.summary;
  $("#spec-name").textContent = `${s.name}: ${s.cells} cells, ${s.products} products, ${fmt(s.operations_per_week, 0)} operations/week`;
  barsChart($("#cells-chart"), Object.entries(s.cells_per_type).map(([label, value]) => ({ label, value, colour: "#475569" })));
  const cats = Object.keys(s.target_mw);
  groupedChart($("#mw-chart"), cats, [{ name: "demand", values: s.demand_mw }], { target: s.target_mw });
  $("#demand-gw").textContent = fmtGw(s.demand_deployable_gw);
  $("#target-gw").textContent = fmtGw(s.facility_gw);
}

function chip(sel, text, on) { const c = $(sel); c.textContent = text; c.className = `chip ${on ? "on" : "off"}`; }

// ---------- schedules ----------
async function loadSchedules(select) {
  const r = await api("GET", "/api/schedules");
  if (!r.ok) return;
  const picker = $("#schedule-picker");
  clear(picker);
  for (const s of r.data.slice().reverse()) {
    const option = document.createElement("option");
    option.value = s.id;
    option.textContent = `${s.id} · ${s.name} · ${s.assignments} ops · ${hours(s.makespan_s)}`;
    picker.appendChild(option);
  }
  if (select) picker.value = select;
  if (picker.value) renderSchedule(picker.value);
}

async function renderSchedule(id) {
  const [page, util] = await Promise.all([api("GET", `/api/schedules/${id}?limit=1`), api("GET", `/api/schedules/${id}/utilisation?buckets=96`)]);
  if (!page.ok || !util.ok) return;
  const s = page.data.schedule;
  state.schedule = s; state.util = util.data;
  $("#schedule-empty").hidden = true; $("#schedule-body").hidden = false;
  const link = $("#gantt-link"); link.hidden = false; link.href = `/api/schedules/${id}/gantt`;
  const kpis = [
    ["status", s.status], ["makespan", hours(s.makespan_s)], ["horizon", hours(s.horizon_s)],
    [s.objective === "mw" ? "objective: MW finished, all categories" : `objective: ${s.objective}`, objectiveText(s.objective, s.value)],
    [`bound (${s.bound_source || "planner"})`, s.bound > 0 ? objectiveText(s.objective, s.bound) : "none"],
    ["gap to bound", s.gap === null || s.gap === undefined ? "no bound" : `${fmt(100 * s.gap, 1)} %`],
    ["operations", fmt(s.assignments, 0)], ["units", fmt(s.jobs, 0)], ["cells used (a bay is one cell)", fmt(s.cells_used, 0)],
    ["deployable, weekly rate", s.weekly_rate_gw === null ? "–" : `${fmtGw(s.weekly_rate_gw)} GW/week`],
  ];
  // MW of compute, cooling and power are not interchangeable: one tile each, against that
  // category's own bound in the plan and its weekly target.
  for (const cat of Object.keys(s.target_mw || s.delivered_mw || {})) {
    const done = (s.delivered_mw || {})[cat] ?? 0, bound = (s.bound_mw || {})[cat], rate = (s.weekly_rate_mw || {})[cat];
    kpis.push([`${cat}: MW finished${bound !== undefined ? ` of ≤ ${fmtMw(bound)} MW possible` : ""}; ${rate !== undefined ? `${fmtMw(rate)} MW/week` : "–"} vs target ${fmtMw(s.target_mw[cat])} MW/week`, `${fmtMw(done)} MW`]);
  }
  const box = clear($("#kpis"));
  for (const [label, value] of kpis) {
    const div = document.createElement("div");
    div.className = "kpi";
    div.innerHTML = "<b></b><span></span>";
    div.firstChild.textContent = value; div.lastChild.textContent = label;
    box.appendChild(div);
  }
  renderUtilisation(util.data);
  $("#drill").hidden = true;
}

function objectiveText(objective, value) {
  if (objective === "makespan") return hours(value);
  if (objective === "mw") return `${fmtMw(value)} MW`;
  return fmt(value, 1);
}

// MW to a tenth above 10 MW, three significant digits below (a test floor's 0.35 MW).
function fmtMw(x) { return x === null || x === undefined || Number.isNaN(x) ? "–" : Math.abs(x) >= 10 ? fmt(x, 1) : fmtAuto(x); }

function renderUtilisation(view) {
  const svg = clear($("#util-chart"));
  const label = 150, rowH = 20, cellW = Math.max(3, Math.floor((Math.min(1100, window.innerWidth - 120) - label - 50) / view.buckets));
  svg.setAttribute("width", label + cellW * view.buckets + 50);
  svg.setAttribute("height", view.pools.length * rowH + 22);
  view.pools.forEach((pool, i) => {
    const y = i * rowH;
    // Cells, not slots: 42 burn-in bays of 24 racks are 42 bays.
    const cells = pool.cells.length, each = pool.per_cell || 1;
    svg.appendChild(titled(el("text", { x: label - 6, y: y + 14, "text-anchor": "end" }, each > 1 ? `${pool.name} ${cells} × ${each}` : `${pool.name} ×${cells}`),
      each > 1 ? `${cells} cells holding ${each} jobs each (${pool.capacity} at once)` : `${cells} cells`));
    pool.busy.forEach((share, b) => {
      const rect = el("rect", { x: label + b * cellW, y: y + 2, width: cellW - (cellW > 4 ? 1 : 0), height: rowH - 4, fill: heat(share), class: "clickable" });
      titled(rect, `${pool.name}, ${hours(b * view.bucket_s)}–${hours((b + 1) * view.bucket_s)}: ${fmt(100 * share, 0)} % busy`);
      rect.addEventListener("click", () => drill(pool, b));
      svg.appendChild(rect);
    });
    svg.appendChild(el("text", { x: label + cellW * view.buckets + 4, y: y + 14 }, `${fmt(100 * pool.mean, 0)} %`));
  });
  const yAxis = view.pools.length * rowH + 14;
  for (let k = 0; k <= 4; k++) {
    svg.appendChild(el("text", { x: label + k * cellW * view.buckets / 4, y: yAxis, "text-anchor": "middle" }, hours(k * view.span_s / 4)));
  }
}

// Drill-down: every cell of one pool as a Gantt row, over a window around the clicked slice.
async function drill(pool, bucket) {
  const view = state.util, span = 8;
  const first = Math.max(0, bucket - span / 2), last = Math.min(view.buckets, first + span);
  const start = Math.floor(first * view.bucket_s), end = Math.ceil(last * view.bucket_s);
  const r = await api("GET", `/api/schedules/${view.id}?pool=${encodeURIComponent(pool.name)}&start=${start}&end=${end}&limit=5000`);
  if (!r.ok) return;
  const rows = pool.cells, label = 110, rowH = 16, width = Math.min(1100, window.innerWidth - 120);
  const x = t => label + (width - label) * (Math.min(end, Math.max(start, t)) - start) / (end - start);
  const svg = clear($("#drill-chart"));
  svg.setAttribute("width", width); svg.setAttribute("height", rows.length * rowH + 20);
  const rowOf = Object.fromEntries(rows.map((c, i) => [c, i]));
  rows.forEach((cell, i) => svg.appendChild(el("text", { x: label - 6, y: i * rowH + 12, "text-anchor": "end" }, cell)));
  // Cells that hold many jobs at once (burn-in bays) stack them in thin lanes.
  const lanes = {};
  for (const a of r.data.assignments) {
    const i = rowOf[a.cell];
    if (i === undefined) continue;
    const busy = lanes[a.cell] || (lanes[a.cell] = []);
    let lane = busy.findIndex(endAt => endAt <= a.start);
    if (lane < 0) { lane = busy.length; busy.push(0); }
    busy[lane] = a.end;
    const product = a.job.split("#")[0], depth = Math.max(1, pool.capacity / rows.length), h = (rowH - 3) / Math.min(depth, 6);
    svg.appendChild(titled(el("rect", { x: x(a.start), y: i * rowH + 1 + (lane % 6) * h, width: Math.max(1, x(a.end) - x(a.start) - 0.5), height: Math.max(1, h - 0.5), fill: hue(product), rx: 1 }),
      `${a.job} / ${a.op} on ${a.cell}: ${hours(a.start)} → ${hours(a.end)}`));
  }
  for (let k = 0; k <= 4; k++) svg.appendChild(el("text", { x: x(start + k * (end - start) / 4), y: rows.length * rowH + 14, "text-anchor": k === 4 ? "end" : "middle" }, hours(start + k * (end - start) / 4)));
  $("#drill-title").textContent = `${pool.name}: ${r.data.total} operations between ${hours(start)} and ${hours(end)}${r.data.total > r.data.assignments.length ? ` (first ${r.data.assignments.length} drawn)` : ""}; colour = product`;
  $("#drill").hidden = false;
}

// ---------- twin ----------
const TIME_STATE_COLOUR = { busy: "#16a34a", setup: "#84cc16", blocked: "#f59e0b", starved: "#93c5fd", idle: "#e5e7eb", down: "#dc2626", off: "#6b7280" };

// The twin's report: deployable GW and MW per category with 95% intervals against the target,
// and how each cell type spends its time (where the floor chokes).
function renderTwin(report) {
  $("#twin-result").hidden = false;
  if (report.execution) return renderExecution(report, report.execution);
  const byCat = report.mw_by_category || {}, cats = Object.keys(byCat);
  const pick = key => Object.fromEntries(cats.map(c => [c, byCat[c][key]]));
  groupedChart($("#twin-chart"), cats, [{ name: "twin mean", values: pick("mean"), lo: pick("ci_low"), hi: pick("ci_high") }], { target: pick("target") });
  const gw = report.gw_per_week || {};
  const meets = gw.ci_low >= report.target_gw ? "meets" : gw.ci_high < report.target_gw ? "misses" : "may miss";
  const bottleneck = report.bottleneck && report.bottleneck.type ? `; bottleneck: ${report.bottleneck.type}` : "";
  $("#twin-verdict").textContent = `${fmtGw(gw.mean)} GW/week deployable (95% CI ${fmtGw(gw.ci_low)}–${fmtGw(gw.ci_high)}): ${meets} the ${fmtGw(report.target_gw)} GW target; `
    + `P(week ≥ target) ${fmt(100 * report.p_meets_target, 0)} %${bottleneck}` + (report.schedule_id ? ` (plan ${report.schedule_id})` : "");
  $("#twin-warnings").textContent = (report.warnings || []).join("; ");
  timeShares($("#twin-shares"), report.time_shares || {}, report.bottleneck && report.bottleneck.type);
}

// A plan checked on the twin: MW it planned against MW the floor delivered by the plan's horizon.
function renderExecution(report, x) {
  const cats = Object.keys(x.planned_mw_by_category), ci = x.delivered_mw_by_category_ci;
  const pick = key => Object.fromEntries(cats.map(c => [c, ci[c][key]]));
  groupedChart($("#twin-chart"), cats, [{ name: "planned", values: x.planned_mw_by_category, opacity: 0.45 },
    { name: "delivered", values: x.delivered_mw_by_category, lo: pick("ci_low"), hi: pick("ci_high") }], {});
  const d = x.delivered_gw_per_week;
  $("#twin-verdict").textContent = `plan ${report.schedule_id || ""} under ${x.control} control, ${fmt(x.horizon_h, 1)} h horizon: delivered `
    + `${fmt(100 * x.delivered_over_planned.mean, 1)} % of the planned MW; ${fmtGw(d.mean)} GW/week (95% CI ${fmtGw(d.ci_low)}–${fmtGw(d.ci_high)}) `
    + `against ${fmtGw(x.planned_gw_per_week)} planned` + (x.share_on_planned_cell ? `; ${fmt(100 * x.share_on_planned_cell.mean, 1)} % of operations on their planned cell` : "");
  $("#twin-warnings").textContent = (report.warnings || []).join("; ");
  timeShares($("#twin-shares"), report.time_shares || {}, report.bottleneck && report.bottleneck.type);
}

function timeShares(svg, shares, bottleneck) {
  clear(svg);
  const types = Object.keys(shares), label = 130, rowH = 18, width = 420;
  svg.setAttribute("width", width);
  types.forEach((type, i) => {
    const y = i * rowH;
    svg.appendChild(el("text", { x: label - 6, y: y + 13, "text-anchor": "end", "font-weight": type === bottleneck ? "bold" : "normal" }, type));
    let x = label;
    for (const [stateName, share] of Object.entries(shares[type])) {
      const w = (width - label - 10) * share;
      if (w <= 0) continue;
      svg.appendChild(titled(el("rect", { x, y: y + 3, width: w, height: rowH - 6, fill: TIME_STATE_COLOUR[stateName] || "#64748b" }), `${type} ${stateName}: ${fmt(100 * share, 1)} %`));
      x += w;
    }
  });
  let lx = label, ly = types.length * rowH + 14;
  svg.setAttribute("height", ly + 20);
  for (const [name, colour] of Object.entries(TIME_STATE_COLOUR)) {
    if (lx + 18 + 7 * name.length > width) { lx = label; ly += 16; }
    svg.appendChild(el("rect", { x: lx, y: ly - 9, width: 10, height: 10, fill: colour }));
    svg.appendChild(el("text", { x: lx + 13, y: ly }, name));
    lx += 18 + 7 * name.length;
  }
}

// ---------- dispatch ----------
function renderDispatch(data) {
  const order = Object.keys(STATE_COLOUR);
  barsChart($("#dispatch-counts"), order.map(s => ({ label: s, value: (data.counts || {})[s] || 0, colour: STATE_COLOUR[s] })), { width: 360 });
  const body = $("#transitions tbody");
  if (!data.recent) {
    if (!body.firstChild) body.innerHTML = '<tr><td colspan="5" class="muted">transitions appear here live while a dispatch runs</td></tr>';
    return;
  }
  clear(body);
  for (const t of data.recent.slice(-12).reverse()) {
    const tr = document.createElement("tr");
    const cells = [new Date(t.at * 1000).toLocaleTimeString(), t.cell, t.job_id.split(":").slice(1).join(":"), t.state, t.detail];
    cells.forEach((text, k) => { const td = document.createElement("td"); td.textContent = text; if (k === 3) td.className = `state-${t.state}`; tr.appendChild(td); });
    body.appendChild(tr);
  }
}

// ---------- wiring ----------
function wire() {
  const planForm = $("#plan-form");
  planForm.addEventListener("submit", e => {
    e.preventDefault();
    submitJob(planForm, "plan", "/api/schedules", formBody(planForm, ["horizon_hours", "demand_hours", "time_limit", "seed"]));
  });
  $("#validate-spec").addEventListener("click", async () => {
    const text = planForm.elements.spec.value;
    const r = await api("POST", "/api/spec/validate", text);
    showError(planForm, "plan", r.ok ? null : r.data);
    $("#spec-verdict").textContent = r.ok ? `valid: ${r.data.name}, ${r.data.cells} cells, ${fmt(r.data.demand_deployable_gw, 3)} GW/week demand` : "";
  });
  const twinForm = $("#twin-form");
  twinForm.addEventListener("submit", e => {
    e.preventDefault();
    const body = formBody(twinForm, ["weeks", "replications", "seed"]);
    const onPlan = body.on_plan; delete body.on_plan;
    const spec = planForm.elements.spec.value.trim();
    if (onPlan) body.schedule_id = $("#schedule-picker").value;
    else if (spec) body.spec = spec;
    submitJob(twinForm, "twin", "/api/twin", body);
  });
  const dispatchForm = $("#dispatch-form");
  dispatchForm.addEventListener("submit", e => {
    e.preventDefault();
    const body = formBody(dispatchForm, ["first", "down_after"]);
    body.schedule_id = $("#schedule-picker").value;
    if (!body.schedule_id) { showError(dispatchForm, "dispatch", { detail: "schedule_id: plan a schedule first" }); return; }
    submitJob(dispatchForm, "dispatch", "/api/dispatch", body);
  });
  $("#schedule-picker").addEventListener("change", e => renderSchedule(e.target.value));
  $("#gantt-link").addEventListener("click", e => {
    if (!access.token) return;  // local mode: the link opens as it is
    e.preventDefault();
    downloadPage(e.currentTarget.href, `gantt-${$("#schedule-picker").value}.html`);
  });
  wireAdmin();
}

// A reloaded page (or a second tab) picks up the latest job of each kind, running or finished.
async function resumeJobs() {
  const r = await api("GET", "/api/jobs");
  if (!r.ok) return;
  const panel = { schedule: "plan", twin: "twin", dispatch: "dispatch" };
  for (const job of r.data) if (panel[job.kind]) state.watched[panel[job.kind]] = job.id;  // oldest first: the last wins
  for (const job of r.data) updateJob(job);
}

// Sign in (or find the local-development mode), then load everything the role may see.
let started = false;
function start(me) {
  applyRole(me);
  loadSpec();
  loadSchedules();
  resumeJobs();
  loadAdmin();
  if (!state.feed) startLiveFeed();
  if (started) return;
  started = true;
  setInterval(pollWatched, 2000);
}

async function boot() {
  wire();
  wireSignIn(start);
  const { me, reason } = await whoAmI();
  if (me) start(me); else showSignIn(reason);
}

boot();
