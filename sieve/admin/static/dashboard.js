// The operator's page: plots from GET /dashboard/series and GET /stats drawn as inline
// SVG, and the review queue (GET /review, POST /review/{id}). No library, no CDN.
"use strict";

const W = 480, H = 200, M = { left: 46, right: 12, top: 14, bottom: 24 };
const SVG = "http://www.w3.org/2000/svg";
const HOUR_MS = 3600 * 1000;
const TOKEN_KEY = "sieve-admin-token";

function el(tag, attrs, parent, text) {
  const node = document.createElementNS(SVG, tag);
  for (const [name, value] of Object.entries(attrs || {})) node.setAttribute(name, value);
  if (text !== undefined) node.textContent = text;
  if (parent) parent.appendChild(node);
  return node;
}

function hourLabel(ms) {
  const d = new Date(ms);
  return `${String(d.getUTCDate()).padStart(2, "0")} ${String(d.getUTCHours()).padStart(2, "0")}h`;
}

// Axes over [start, end) and [0, yMax]; returns the scales.
function frame(svg, start, end, yMax, yFormat) {
  svg.replaceChildren();
  const x = (ms) => M.left + ((ms - start) / (end - start)) * (W - M.left - M.right);
  const y = (v) => H - M.bottom - (v / yMax) * (H - M.top - M.bottom);
  for (let i = 0; i <= 4; i++) {
    const v = (yMax * i) / 4;
    el("line", { class: "grid", x1: M.left, x2: W - M.right, y1: y(v), y2: y(v) }, svg);
    el("text", { x: M.left - 4, y: y(v) + 3, "text-anchor": "end" }, svg, yFormat(v));
  }
  el("line", { class: "axis", x1: M.left, x2: W - M.right, y1: y(0), y2: y(0) }, svg);
  el("line", { class: "axis", x1: M.left, x2: M.left, y1: M.top, y2: y(0) }, svg);
  for (let i = 0; i <= 3; i++) {
    const ms = start + ((end - start) * i) / 3;
    const anchor = i === 0 ? "start" : i === 3 ? "end" : "middle";
    el("text", { x: x(ms), y: H - 8, "text-anchor": anchor }, svg, hourLabel(ms));
  }
  return { x, y };
}

function legend(svg, names) {
  names.forEach((name, i) => {
    const x = W - M.right - 150 + i * 80;
    el("rect", { class: `s${i}`, x, y: 2, width: 10, height: 3 }, svg);
    el("text", { x: x + 14, y: 8 }, svg, name);
  });
}

function noData(svg, message) {
  el("text", { class: "empty", x: W / 2, y: H / 2, "text-anchor": "middle" }, svg, message);
}

// Lines through the hourly points of each series (null values are gaps).
function linePlot(svg, series, start, end, yMax, yFormat, names) {
  const { x, y } = frame(svg, start, end, yMax, yFormat);
  let drawn = 0;
  series.forEach((points, i) => {
    const kept = points.filter((p) => p.v !== null && p.v !== undefined);
    if (kept.length > 1) {
      const d = kept.map((p, j) => `${j ? "L" : "M"}${x(p.t).toFixed(1)},${y(p.v).toFixed(1)}`);
      el("path", { class: `line s${i}`, d: d.join(" ") }, svg);
    }
    for (const p of kept) {
      const dot = el("circle", { class: `point s${i}`, cx: x(p.t), cy: y(p.v), r: 3 }, svg);
      el("title", {}, dot, `${hourLabel(p.t)}: ${yFormat(p.v)}`);
      drawn++;
    }
  });
  if (names) legend(svg, names);
  if (!drawn) noData(svg, "no data in this window");
}

const percent = (v) => `${Math.round(v * 100)}%`;
const usd = (v) => (v >= 1 ? `$${v.toFixed(2)}` : `$${v.toFixed(3)}`);
const hourMs = (iso) => Date.parse(iso);
const half = HOUR_MS / 2; // points sit in the middle of their hour

function plotShare(series, start, end) {
  const points = series.share.map((b) => ({ t: hourMs(b.hour) + half, v: b.escalated_share }));
  linePlot(document.getElementById("plot-share"), [points], start, end, 1, percent);
}

function plotAudit(series, start, end) {
  const final = series.audit.map((b) => ({ t: hourMs(b.hour) + half, v: b.final_accuracy }));
  const student = series.audit.map((b) => ({ t: hourMs(b.hour) + half, v: b.student_accuracy }));
  const audited = series.audit.reduce((n, b) => n + b.audited, 0);
  document.getElementById("audit-total").textContent = `${audited} audited in the window`;
  const names = ["final label", "fast model"];
  linePlot(document.getElementById("plot-audit"), [final, student], start, end, 1, percent, names);
}

function plotCost(series, stats, start, end) {
  const svg = document.getElementById("plot-cost");
  const hourly = (stats.limits || []).find((l) => l.name === "usd_per_hour");
  const spent = series.cost.reduce((n, b) => n + b.cost_usd, 0);
  const top = Math.max(...series.cost.map((b) => b.cost_usd), hourly ? hourly.capacity : 0);
  const { x, y } = frame(svg, start, end, top > 0 ? top * 1.15 : 1, usd);
  const width = Math.max(1, x(start + HOUR_MS) - x(start) - 2);
  for (const b of series.cost) {
    if (!b.requests) continue;
    const bar = el("rect", {
      class: "bar point", x: x(hourMs(b.hour)) + 1, y: y(b.cost_usd),
      width, height: Math.max(1, y(0) - y(b.cost_usd)),
    }, svg);
    el("title", {}, bar, `${hourLabel(hourMs(b.hour))}: ${usd(b.cost_usd)}, ${b.requests} requests`);
  }
  if (hourly) {
    el("line", { class: "limit", x1: M.left, x2: W - M.right, y1: y(hourly.capacity),
                 y2: y(hourly.capacity) }, svg);
    el("text", { x: M.left + 4, y: y(hourly.capacity) - 3 }, svg,
       `budget ${usd(hourly.capacity)}/hour`);
  }
  if (!series.cost.some((b) => b.requests)) noData(svg, "no LLM request in this window");
  document.getElementById("cost-total").textContent =
    `${usd(spent)} in the window, ${usd(stats.llm.cost_usd)} in all`;
  const list = document.getElementById("limits");
  list.replaceChildren();
  for (const limit of stats.limits || []) {
    const item = document.createElement("li");
    item.textContent = `${limit.name}: ${limit.spent.toFixed(3)} used of ` +
      `${limit.capacity}, ${limit.remaining.toFixed(3)} left`;
    list.appendChild(item);
  }
  if (!(stats.limits || []).length) {
    const item = document.createElement("li");
    item.textContent = "no budget or rate limit configured";
    list.appendChild(item);
  }
}

function plotModels(series, start, end) {
  const svg = document.getElementById("plot-models");
  const { x } = frame(svg, start, end, 1, () => "");
  const lane = { activation: 45, run: 105 };
  el("text", { x: M.left - 4, y: lane.activation + 3, "text-anchor": "end" }, svg, "active");
  el("text", { x: M.left - 4, y: lane.run + 3, "text-anchor": "end" }, svg, "runs");
  if (series.active_at_start) {
    el("text", { x: M.left + 4, y: lane.activation - 8 }, svg, series.active_at_start);
  }
  for (const a of series.activations) {
    const at = x(hourMs(a.at));
    el("line", { class: "activation", x1: at, x2: at, y1: lane.activation - 20,
                 y2: lane.run + 20 }, svg);
    const mark = el("circle", { class: "point s0", cx: at, cy: lane.activation, r: 4 }, svg);
    el("title", {}, mark, `${a.version} active (${a.reason})`);
    el("text", { x: at + 3, y: lane.activation - 8 }, svg, a.version.slice(0, 18));
  }
  for (const r of series.runs) {
    const kind = r.promoted ? "promoted" : r.status === "succeeded" ? "rejected" : "other";
    const dot = el("circle", { class: `point ${kind}`, cx: x(hourMs(r.at)), cy: lane.run, r: 5 },
                   svg);
    el("title", {}, dot, `run ${r.status}${r.model_version ? ": " + r.model_version : ""}` +
       (r.status === "succeeded" ? (r.promoted ? ", promoted" : ", not promoted") : ""));
  }
  [["promoted", "promoted"], ["rejected", "not promoted"], ["other", "failed/skipped"]]
    .forEach(([kind, name], i) => {
      const x0 = M.left + 10 + i * 110;
      el("circle", { class: kind, cx: x0, cy: 155, r: 4 }, svg);
      el("text", { x: x0 + 8, y: 158 }, svg, name);
    });
  if (!series.runs.length && !series.activations.length) {
    noData(svg, series.active_at_start ? "no change in this window" : "no model yet");
  }
}

// DRIFT PANEL: reads stats.drift when the drift work adds it to GET /stats. Shows its
// top-level figures as a list; replace with a plot once its shape is settled.
function renderDrift(stats) {
  // GET /stats "drift": per signal {score, bound, alert, window, noise, ...} (sieve.routing.drift).
  const panel = document.getElementById("drift-panel");
  if (!stats.drift) { panel.hidden = true; return; }
  panel.hidden = false;
  const table = document.createElement("table");
  table.innerHTML = "<thead><tr><th>signal</th><th>score</th><th>bound</th><th>state</th></tr></thead>";
  const body = document.createElement("tbody");
  for (const [name, value] of Object.entries(stats.drift)) {
    const row = document.createElement("tr");
    row.dataset.signal = name;
    const score = value && typeof value.score === "number" ? value.score.toFixed(3) : "–";
    const bound = value && typeof value.bound === "number" ? value.bound.toFixed(3) : "–";
    const state = !value || value.score === null ? "no verdict yet" : value.alert ? "ALERT" : "ok";
    if (value && value.alert) row.className = "alert";
    for (const text of [name, score, bound, state]) {
      const cell = document.createElement("td");
      cell.textContent = text;
      row.appendChild(cell);
    }
    body.appendChild(row);
  }
  table.appendChild(body);
  document.getElementById("drift").replaceChildren(table);
}

async function getJson(url) {
  const response = await fetch(url);
  if (!response.ok) throw new Error(`${url}: HTTP ${response.status}`);
  return response.json();
}

async function loadPlots() {
  const hours = Number(document.getElementById("hours").value);
  const [series, stats] = await Promise.all([
    getJson(`/dashboard/series?hours=${hours}`), getJson("/stats"),
  ]);
  const start = hourMs(series.since), end = start + hours * HOUR_MS;
  plotShare(series, start, end);
  plotAudit(series, start, end);
  plotCost(series, stats, start, end);
  plotModels(series, start, end);
  renderDrift(stats);
  const share = stats.escalated_share_24h;
  document.getElementById("summary").textContent =
    `${stats.messages_total} messages · active model ${stats.active_version || "none"} · ` +
    `${share === null ? "–" : percent(share)} to the LLM (24 h)`;
  document.body.dataset.plotsLoaded = "true";
}

// ---- the review queue -------------------------------------------------------------

function setStatus(text, isError) {
  const status = document.getElementById("review-status");
  status.textContent = text;
  status.className = isError ? "error" : "";
}

function cell(row, text, cls) {
  const td = document.createElement("td");
  td.textContent = text;
  if (cls) td.className = cls;
  row.appendChild(td);
  return td;
}

function reviewRow(item, labels) {
  const row = document.createElement("tr");
  row.dataset.messageId = item.message_id;
  cell(row, item.text, "text");
  cell(row, item.reasons.join(", "));
  const confidence = item.student_confidence === null ? "" : ` (${percent(item.student_confidence)})`;
  cell(row, (item.student_label || "–") + confidence);
  cell(row, item.llm_label || "not answered yet");
  const select = document.createElement("select");
  select.className = "label-choice";
  select.appendChild(new Option("choose…", ""));
  for (const label of labels) select.appendChild(new Option(label, label));
  cell(row, "").appendChild(select);
  const button = document.createElement("button");
  button.type = "button";
  button.className = "submit-label";
  button.textContent = "save";
  button.addEventListener("click", () => submitLabel(item.message_id, select.value, row));
  cell(row, "").appendChild(button);
  return row;
}

async function loadReview() {
  const queue = await getJson("/review?limit=25");
  document.getElementById("review-total").textContent = `${queue.total} waiting`;
  const body = document.querySelector("#review tbody");
  body.replaceChildren(...queue.items.map((item) => reviewRow(item, queue.labels)));
  document.body.dataset.reviewLoaded = "true";
}

async function submitLabel(messageId, label, row) {
  if (!label) { setStatus("pick a label first", true); return; }
  const token = sessionStorage.getItem(TOKEN_KEY);
  if (!token) { setStatus("enter the admin token first", true); return; }
  const response = await fetch(`/review/${encodeURIComponent(messageId)}`, {
    method: "POST",
    headers: { "Content-Type": "application/json", Authorization: `Bearer ${token}` },
    body: JSON.stringify({ label }),
  });
  const answer = await response.json().catch(() => ({}));
  if (!response.ok) {
    setStatus(`not saved (HTTP ${response.status}): ${answer.detail || ""}`, true);
    return;
  }
  row.remove();
  setStatus(`saved “${answer.label}” for ${answer.message_id}`, false);
  loadReview().catch((error) => setStatus(String(error), true));
  loadPlots().catch((error) => setStatus(String(error), true));
}

function showTokenState() {
  document.getElementById("token-state").textContent =
    sessionStorage.getItem(TOKEN_KEY) ? "token set for this tab" : "no token: labels cannot be saved";
}

document.getElementById("token-form").addEventListener("submit", (event) => {
  event.preventDefault();
  const input = document.getElementById("token");
  sessionStorage.setItem(TOKEN_KEY, input.value);
  input.value = "";
  showTokenState();
});
document.getElementById("hours").addEventListener("change", () => {
  loadPlots().catch((error) => setStatus(String(error), true));
});

showTokenState();
loadPlots().catch((error) => setStatus(String(error), true));
loadReview().catch((error) => setStatus(String(error), true));
setInterval(() => loadPlots().catch(() => {}), 60000);
