// The operations page: polls /api/state every two seconds and draws it. uPlot draws the charts.
"use strict";
const POLL_MS = 2000, HISTORY = 150;
const fmt = new Intl.NumberFormat("en-US");
const pct = (x) => (x === undefined || x === null) ? "–" : (100 * x).toFixed(2) + " %";
const $ = (id) => document.getElementById(id);
const history = { t: [], series: {} };
let ratesPlot = null, departmentPlot = null, districtPlot = null;

const LAYOUT = {  // where each box of the pipeline is drawn
  topics: { x: 10, y: 80, w: 160, label: "department topics", kind: "topic" },
  reconcile: { x: 230, y: 80, w: 160, kind: "stage" },
  indicators: { x: 460, y: 10, w: 160, kind: "stage" },
  forward: { x: 460, y: 150, w: 160, kind: "stage" },
  exchange: { x: 690, y: 150, w: 170, label: "national exchange", kind: "external" },
  archive: { x: 690, y: 10, w: 170, kind: "stage" },
};
const EDGES = [["topics", "reconcile"], ["reconcile", "indicators"], ["reconcile", "forward"], ["forward", "exchange"]];

function drawPipeline(state) {
  const svg = $("pipeline");
  const box = (name, lines, kind, at) => {
    const h = 30 + 18 * lines.length;
    const text = lines.map((l, i) => `<text x="${at.x + 10}" y="${at.y + 38 + 18 * i}" class="${l.cls}">${l.text}</text>`).join("");
    return `<g data-stage="${name}"><rect class="${kind}" x="${at.x}" y="${at.y}" width="${at.w}" height="${h}" rx="6"/>` +
      `<text class="title" x="${at.x + 10}" y="${at.y + 18}">${at.label || name}</text>${text}</g>`;
  };
  let out = `<defs><marker id="arrow" viewBox="0 0 10 10" refX="10" refY="5" markerWidth="6" markerHeight="6" orient="auto-start-reverse"><path d="M 0 0 L 10 5 L 0 10 z" fill="#666"/></marker></defs>`;
  for (const [a, b] of EDGES) {
    const p = LAYOUT[a], q = LAYOUT[b];
    out += `<line x1="${p.x + p.w}" y1="${p.y + 30}" x2="${q.x}" y2="${q.y + 30}"/>`;
  }
  out += box("topics", [{ text: "from the agencies", cls: "muted" }], "topic", LAYOUT.topics);
  for (const s of state.stages) {
    if (!LAYOUT[s.name]) continue;
    out += box(s.name, [
      { text: `${fmt.format(s.rate)} /s`, cls: "rate" },
      { text: `${fmt.format(s.waiting)} waiting`, cls: "waiting" },
      { text: `${fmt.format(s.consumed)} read`, cls: "consumed" },
    ], "stage", LAYOUT[s.name]);
  }
  const ex = state.exchange;
  out += box("exchange", [
    { text: `circuit ${ex.circuit}`, cls: "circuit" },
    { text: `${fmt.format(ex.ack_rate)} acks/s`, cls: "rate" },
  ], "external", LAYOUT.exchange);
  svg.innerHTML = out;
}

function rows(tbody, entries) {
  tbody.innerHTML = entries.map(([k, v]) => `<tr><td>${k}</td><td class="num">${fmt.format(v)}</td></tr>`).join("")
    || `<tr><td class="muted">none</td><td></td></tr>`;
}

function bars(el, plot, labels, values) {
  const data = [labels.map((_, i) => i), values.map((v) => 100 * v)];
  const opts = {
    width: el.clientWidth || 400, height: 220, legend: { show: false },
    scales: { x: { time: false, range: () => [-0.5, labels.length - 0.5] }, y: { range: [0, 100] } },
    axes: [
      { splits: () => labels.map((_, i) => i), values: (u, ticks) => ticks.map((i) => labels[i] ?? "") },
      { values: (u, t) => t.map((v) => v + " %") },
    ],
    series: [{}, { label: "reuse rate", fill: "rgba(59,91,165,.35)", stroke: "#3b5ba5", paths: uPlot.paths.bars({ size: [0.6, 60] }), points: { show: false } }],
  };
  if (plot && plot.labels === labels.join()) { plot.setData(data); return plot; }
  if (plot) plot.destroy();
  el.innerHTML = "";
  const made = new uPlot(opts, data, el);
  made.labels = labels.join();
  return made;
}

function drawRates(state) {
  history.t.push(Date.now() / 1000);
  for (const s of state.stages) (history.series[s.name] ||= []).push(s.rate);
  if (history.t.length > HISTORY) { history.t.shift(); for (const k in history.series) history.series[k].shift(); }
  const names = Object.keys(history.series);
  const data = [history.t, ...names.map((n) => history.series[n])];
  const colors = ["#3b5ba5", "#2e7d32", "#c77700", "#7b1fa2", "#00838f"];
  if (!ratesPlot || ratesPlot.series.length !== names.length + 1) {
    if (ratesPlot) ratesPlot.destroy();
    $("rates-chart").innerHTML = "";
    ratesPlot = new uPlot({
      width: $("rates-chart").clientWidth || 900, height: 220, title: "records read per second, by stage",
      series: [{}, ...names.map((n, i) => ({ label: n, stroke: colors[i % colors.length], width: 2 }))],
    }, data, $("rates-chart"));
  } else {
    ratesPlot.setData(data);
  }
}

function draw(state) {
  $("health").dataset.ok = String(state.health.ok);
  $("health").textContent = state.health.ok ? "healthy" : "unhealthy: " + state.health.reasons.join("; ");
  $("updated").textContent = "updated " + new Date(state.at).toLocaleTimeString();
  drawPipeline(state);
  drawRates(state);
  $("reconciled").textContent = fmt.format(state.reconciliation.reconciled);
  $("rejected").textContent = fmt.format(state.reconciliation.rejected);
  rows(document.querySelector("#rejections tbody"), Object.entries(state.reconciliation.rejected_by_reason));
  $("circuit").textContent = state.exchange.circuit;
  $("ack-rate").textContent = fmt.format(state.exchange.ack_rate);
  rows(document.querySelector("#acks tbody"), Object.entries(state.exchange.acks));
  $("exchange-extra").textContent = `retries ${fmt.format(state.exchange.retries)}, failures after retries ${fmt.format(state.exchange.failures)}`;
  const ind = state.indicators;
  $("reuse-province").textContent = pct(ind.province.all);
  const deps = Object.keys(ind.department).sort(), dists = Object.keys(ind.district).sort();
  departmentPlot = bars($("department-chart"), departmentPlot, deps, deps.map((k) => ind.department[k]));
  districtPlot = bars($("district-chart"), districtPlot, dists, dists.map((k) => ind.district[k]));
  document.body.dataset.ready = "true";
}

async function poll() {
  try {
    const answer = await fetch("/api/state", { cache: "no-store" });
    draw(await answer.json());
  } catch (err) {
    $("health").dataset.ok = "false";
    $("health").textContent = "the hub does not answer";
  }
  setTimeout(poll, POLL_MS);
}
poll();
