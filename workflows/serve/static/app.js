// synsweep serve: the page. Views by URL hash: "#/" the store list, "#/store/PATH" one store (figure, controls,
// replay of a clicked point, progress, spec, provenance, downloads). Data come from the JSON endpoints of
// synsweep.workflows.serve.app; values arrive as base64 float32 (NaN: no ok point gives a value).
"use strict";

const NOT_COMPUTED_COLOR = "#d9d9d9";  // as synsweep.workflows.plots
const DIVERGED_COLOR = "#6e6e6e";
const RUNAWAY_COLOR = "#b2182b";
const $ = (id) => document.getElementById(id);
const state = { store: null, info: null, plot: null, progressTimer: null, renders: 0, listRequests: 0 };

async function getJSON(url) {
  const response = await fetch(url, { credentials: "same-origin" });
  const body = await response.json().catch(() => ({ error: `HTTP ${response.status}` }));
  if (!response.ok) throw new Error(body.error || `HTTP ${response.status}`);
  return body;
}

function decode(b64, Type) {
  const text = atob(b64);
  const bytes = new Uint8Array(text.length);
  for (let i = 0; i < text.length; i++) bytes[i] = text.charCodeAt(i);  // (Uint8Array.from is 100x slower)
  return new Type(bytes.buffer);
}

function fmt(v) {
  if (typeof v !== "number") return String(v);
  return Number.isInteger(v) ? String(v) : Number(v.toPrecision(6)).toString();
}

function esc(text) {
  const div = document.createElement("div");
  div.textContent = String(text);
  return div.innerHTML;
}

// -- the store list ---------------------------------------------------------------------------------------
async function showList() {
  $("store-view").hidden = true;
  $("list-view").hidden = false;
  clearInterval(state.progressTimer);
  const q = $("search").value;
  const asked = ++state.listRequests;
  const data = await getJSON(`/api/stores?q=${encodeURIComponent(q)}`);
  if (asked !== state.listRequests) return;  // a later search (the next keystroke) answers instead
  $("root").textContent = data.root;
  const body = $("store-list").querySelector("tbody");
  body.innerHTML = "";
  for (const s of data.stores) {
    const tr = document.createElement("tr");
    tr.className = "store-row";
    tr.dataset.path = s.path;
    const dims = Object.entries(s.dims).map(([d, n]) => `${d} ${n}`).join(" × ");
    const total = s.points || 1;
    const bar = (n, cls) => `<span class="bar ${cls}" style="width:${Math.round(120 * n / total)}px"></span>`;
    const completion = s.error ? `<span class="error">${esc(s.error)}</span>` :
      `${bar(s.ok, "ok")}${bar(s.diverged, "diverged")}${bar(s.not_computed, "nc")} ` +
      `${bar(s.flagged, "runaway")} ${s.ok} / ${s.diverged} / ${s.not_computed} / ${s.flagged}` +
      `${s.failed_chunks ? `; ${s.failed_chunks} failed chunk(s)` : ""}${s.running ? " (running)" : ""}`;
    tr.innerHTML = `<td class="mono">${esc(s.path)}</td><td>${esc(s.title)}</td><td>${esc(s.models.join(", "))}</td>` +
      `<td>${esc(dims)}</td><td>${s.points ?? ""}</td><td>${completion}</td>` +
      `<td class="mono">${esc((s.spec_hash || "").slice(0, 12))}</td><td>${esc(s.created || "")}</td>`;
    tr.addEventListener("click", () => { location.hash = `#/store/${encodeURIComponent(s.path)}`; });
    body.appendChild(tr);
  }
  $("list-count").textContent = `${data.stores.length} store(s)` + (q ? ` matching "${q}"` : "");
}

// -- one store --------------------------------------------------------------------------------------------
async function showStore(path) {
  $("list-view").hidden = true;
  $("store-view").hidden = false;
  $("replay").hidden = true;
  state.store = path;
  const info = await getJSON(`/api/store?store=${encodeURIComponent(path)}`);
  state.info = info;
  const s = info.summary;
  $("store-title").textContent = `${s.title} (${s.path})`;
  $("store-summary").textContent = `${s.points} points: ${s.ok} ok, ${s.diverged} diverged, ` +
    `${s.not_computed} not computed, ${s.flagged} flagged runaway, ${s.failed_chunks} failed chunk(s); ` +
    `spec hash ${s.spec_hash}; ` +
    `created ${s.created}` + (s.running ? "; a run is writing this store now" : "");
  const varSelect = $("var-select");
  varSelect.innerHTML = info.variables.map((v) =>
    `<option value="${esc(v.name)}">${esc(v.name)}${v.units ? ` [${esc(v.units)}]` : ""}</option>`).join("");
  const preferred = ["pearson", "rate_count", "spike_count"].find((n) => info.variables.some((v) => v.name === n));
  varSelect.value = preferred || info.variables[0].name;
  $("spec").textContent = JSON.stringify(info.spec, null, 2);
  $("provenance").querySelector("tbody").innerHTML = Object.entries(info.provenance).map(([k, v]) =>
    `<tr><td>${esc(k)}</td><td class="mono">${esc(typeof v === "string" ? v : JSON.stringify(v))}</td></tr>`).join("");
  setAxes(true);
  await draw();
  await showProgress();
  clearInterval(state.progressTimer);
  if (s.running) state.progressTimer = setInterval(showProgress, 2000);
}

function variable() {
  return state.info.variables.find((v) => v.name === $("var-select").value);
}

function dimInfo(name) {
  return state.info.dims.find((d) => d.name === name);
}

// the x / y choices (dims of the variable) and a slider + "reduce" box for every other dim
function setAxes(defaults) {
  const v = variable();
  const sweep = v.dims.filter((d) => state.info.sweep_dims.includes(d));
  const options = v.dims.map((d) => `<option value="${esc(d)}">${esc(d)}</option>`).join("");
  const xs = $("x-select"), ys = $("y-select");
  const oldX = xs.value, oldY = ys.value;
  xs.innerHTML = options;
  ys.innerHTML = `<option value="">(none: lines)</option>` + options;
  if (defaults || !v.dims.includes(oldX)) {
    xs.value = sweep[0] || v.dims[0];
    ys.value = sweep.find((d) => d !== xs.value) || "";
  } else {
    xs.value = oldX;
    ys.value = v.dims.includes(oldY) && oldY !== oldX ? oldY : "";
  }
  const box = $("dims");
  box.innerHTML = "";
  for (const d of v.dims) {
    const info = dimInfo(d);
    if (d === xs.value || d === ys.value || info.size === 1) continue;  // a dim of one value needs no choice
    const div = document.createElement("div");
    div.className = "dim";
    div.innerHTML = `<label>${esc(d)} = <span class="value" id="value-${esc(d)}"></span>` +
      `<input type="range" min="0" max="${info.size - 1}" value="0" data-dim="${esc(d)}" id="slider-${esc(d)}"></label>` +
      `<label><input type="checkbox" data-reduce="${esc(d)}" id="reduce-${esc(d)}"> reduce over ${esc(d)}</label>`;
    box.appendChild(div);
    const slider = div.querySelector("input[type=range]");
    const reduce = div.querySelector("input[type=checkbox]");
    const show = () => {
      $(`value-${d}`).textContent = reduce.checked ? `(${$("reduce-select").value})` :
        `${fmt(info.values[slider.value])} ${info.units && info.units !== "1" ? info.units : ""}`;
    };
    show();
    slider.addEventListener("input", show);
    reduce.addEventListener("refresh", show);
    slider.addEventListener("change", draw);
    reduce.addEventListener("change", () => { slider.disabled = reduce.checked; show(); draw(); });
  }
}

function selection() {
  const sel = [], reduced = [];
  for (const slider of $("dims").querySelectorAll("input[type=range]")) {
    const d = slider.dataset.dim;
    if ($(`reduce-${d}`).checked) reduced.push(d); else sel.push(`${d}:${slider.value}`);
  }
  return { sel, reduced };
}

function plotQuery() {
  const { sel, reduced } = selection();
  const q = new URLSearchParams({ store: state.store, var: $("var-select").value, x: $("x-select").value,
    y: $("y-select").value, sel: sel.join(",") });
  if (reduced.length) q.set("reduce", $("reduce-select").value);
  return q;
}

async function draw() {
  const q = plotQuery();
  $("plot-error").textContent = "";
  let data;
  try {
    data = await getJSON(`/api/plot?${q}`);
  } catch (err) {
    $("plot-error").textContent = err.message;
    return;
  }
  state.plot = data;
  const values = decode(data.values, Float32Array);
  const status = data.status ? decode(data.status, Uint8Array) : null;
  const nOk = data.n_ok ? decode(data.n_ok, Int32Array) : null;
  const units = data.units && data.units !== "1" ? ` ${data.units}` : "";
  const title = `${data.long_name}${units ? ` (${data.units})` : ""}` +
    (data.selected ? `<br><sub>${esc(data.selected)}</sub>` : "") +
    (data.reduce ? `<br><sub>${data.reduce} over ${data.reduced.join(", ")} (ok points)</sub>` : "");
  const layout = { title: { text: title, font: { size: 14 } }, margin: { t: 70, r: 20 },
    xaxis: { title: { text: data.x_label } } };
  let traces;
  let legend = "";
  if (data.y) {
    const [ny, nx] = data.shape;
    // plain arrays: plotly draws them twice as fast as typed-array rows
    const z = Array.from({ length: ny }, (_, i) => Array.from(values.subarray(i * nx, (i + 1) * nx)));
    const missing = (k) => (status ? status[k] !== 1 : nOk !== null && nOk[k] === 0);
    let anyOverlay = false;
    for (let k = 0; k < nx * ny && !anyOverlay; k++) anyOverlay = missing(k);
    const overlay = [], hover = [];
    for (let i = 0; anyOverlay && i < ny; i++) {  // a grey layer only where some cell has no value
      const row = new Array(nx).fill(null), text = new Array(nx).fill("");
      for (let j = 0; j < nx; j++) {
        const k = i * nx + j;
        if (status && status[k] === 0) { row[j] = 1; text[j] = "not computed"; }
        else if (status && status[k] === 2) { row[j] = 2; text[j] = "diverged"; }
        else if (status && status[k] === 3) { row[j] = 3; text[j] = "runaway (fires faster than the step resolves)"; }
        else if (nOk && nOk[k] === 0) { row[j] = 1; text[j] = "no ok point"; }
      }
      overlay.push(row);
      hover.push(text);
    }
    traces = [{ type: "heatmap", x: data.x_values, y: data.y_values, z, colorscale: "Viridis",
      colorbar: { title: { text: data.units || "" } }, name: data.var,
      hovertemplate: `${data.x_coord} %{x}<br>${data.y_coord} %{y}<br>${data.var} %{z:.6g}${units}<extra></extra>` }];
    if (anyOverlay) {
      traces.push({ type: "heatmap", x: data.x_values, y: data.y_values, z: overlay, zmin: 1, zmax: 3,
        colorscale: [[0, NOT_COMPUTED_COLOR], [1 / 3, NOT_COMPUTED_COLOR], [1 / 3, DIVERGED_COLOR], [2 / 3, DIVERGED_COLOR],
          [2 / 3, RUNAWAY_COLOR], [1, RUNAWAY_COLOR]],
        showscale: false, text: hover, hovertemplate: `${data.x_coord} %{x}<br>${data.y_coord} %{y}<br>%{text}<extra></extra>` });
      legend = `<span class="swatch" style="background:${NOT_COMPUTED_COLOR}"></span> not computed / no ok point ` +
        `<span class="swatch" style="background:${DIVERGED_COLOR}"></span> diverged ` +
        `<span class="swatch" style="background:${RUNAWAY_COLOR}"></span> runaway (flagged)`;
    }
    layout.yaxis = { title: { text: data.y_label } };
  } else {
    const nx = data.x_values.length;
    const rows = data.hue ? data.hue_values : [null];
    traces = rows.map((label, i) => ({ type: "scatter", mode: "lines+markers", x: data.x_values,
      y: Array.from(values.subarray(i * nx, (i + 1) * nx), (v) => (Number.isNaN(v) ? null : v)),
      name: label === null ? data.var : `${data.hue} ${label}`, marker: { size: 4 },
      hovertemplate: `${data.x_coord} %{x}<br>${data.var} %{y:.6g}${units}<extra>%{fullData.name}</extra>` }));
    if (status) {
      const xs = [];
      for (let j = 0; j < nx; j++) if (status[j] === 2) xs.push(data.x_values[j]);
      if (xs.length) {
        traces.push({ type: "scatter", mode: "markers", x: xs, y: xs.map(() => 0), yaxis: "y2", name: "diverged",
          marker: { symbol: "x", color: DIVERGED_COLOR, size: 8 }, hovertemplate: "diverged<extra></extra>" });
        layout.yaxis2 = { overlaying: "y", range: [0, 1], visible: false };
      }
    }
    layout.yaxis = { title: { text: `${data.var}${units ? ` (${data.units})` : ""}` } };
  }
  $("legend").innerHTML = legend;
  $("selected").textContent = data.selected ? `selected: ${data.selected}` : "";
  await Plotly.react("plot", traces, layout, { responsive: true, displaylogo: false });
  const plotDiv = $("plot");
  plotDiv.removeAllListeners?.("plotly_click");
  plotDiv.on("plotly_click", onClick);
  state.renders += 1;
  plotDiv.dataset.renders = String(state.renders);
  setDownloads();
}

function setDownloads() {
  const s = encodeURIComponent(state.store);
  const q = plotQuery();
  $("downloads").innerHTML = `downloads: <a id="dl-figure" href="/download/figure?${q}">figure (PNG)</a> · ` +
    `<a id="dl-csv" href="/download/csv?store=${s}">CSV</a> · <a id="dl-netcdf" href="/download/netcdf?store=${s}">netCDF</a> · ` +
    `<a id="dl-spec" href="/download/spec?store=${s}">spec</a>`;
}

// -- replay of a clicked point ------------------------------------------------------------------------------
function onClick(event) {
  const p = state.plot;
  const pt = event.points[0];
  const point = {};
  for (const slider of $("dims").querySelectorAll("input[type=range]")) {
    const d = slider.dataset.dim;
    if (state.info.sweep_dims.includes(d) && !$(`reduce-${d}`).checked) point[d] = slider.value;
  }
  // the grid index of the clicked cell along each plotted sweep dim (x_index / y_index: absent for neuron, pair)
  if (p.y) {
    const [i, j] = pt.pointNumber;
    if (p.x_index) point[p.x] = p.x_index[j];
    if (p.y_index) point[p.y] = p.y_index[i];
  } else if (p.x_index) {
    const j = pt.data.name === "diverged" ? p.x_values.indexOf(pt.x) : pt.pointNumber;  // a marker: by its x
    point[p.x] = p.x_index[j];
  }
  const missing = state.info.sweep_dims.filter((d) => !(d in point) && dimInfo(d).size > 1);
  $("replay").hidden = false;
  if (missing.length) {
    $("replay-title").textContent = "replay";
    $("replay-status").innerHTML = `<span class="error">a replay needs one value of every sweep dim: untick ` +
      `"reduce over ${esc(missing.join(", "))}" and choose with the slider</span>`;
    return;
  }
  replay(Object.entries(point).filter(([d]) => state.info.sweep_dims.includes(d)).map(([d, k]) => `${d}:${k}`));
}

async function replay(point) {
  $("replay-title").textContent = "replaying ...";
  $("replay-status").textContent = "simulating the point again from the stored spec (the first replay compiles the kernel)";
  $("replay").dataset.state = "running";
  Plotly.purge("trace-plot");
  Plotly.purge("synapse-plot");
  $("checks").querySelector("tbody").innerHTML = "";
  let r;
  try {
    r = await getJSON(`/api/replay?${new URLSearchParams({ store: state.store, point: point.join(",") })}`);
  } catch (err) {
    $("replay-title").textContent = "replay failed";
    $("replay-status").innerHTML = `<span class="error">${esc(err.message)}</span>`;
    $("replay").dataset.state = "failed";
    return;
  }
  $("replay-title").textContent = `replay of ${r.label}`;
  $("replay-status").innerHTML = (r.ok ? `<span class="verdict-ok">replay equals the store</span>` :
    `<span class="verdict-bad">replay DIFFERS from the store</span>`) +
    (r.every > 1 ? ` (every ${r.every}th sample shown)` : "") + (r.notes.length ? `; ${esc(r.notes.join("; "))}` : "");
  const shapes = [];
  if (r.transient > 0) shapes.push({ type: "rect", xref: "x", yref: "paper", x0: 0, x1: r.transient, y0: 0, y1: 1,
    fillcolor: "#eeeeee", line: { width: 0 }, layer: "below" });
  if (r.diverged_at !== null) shapes.push({ type: "line", xref: "x", yref: "paper", x0: r.diverged_at,
    x1: r.diverged_at, y0: 0, y1: 1, line: { color: DIVERGED_COLOR, dash: "dash" } });
  const voltages = r.traces.filter((t) => t.kind === "neuron" && r.voltages[t.unit] === t.var);
  Plotly.react("trace-plot", voltages.map((t) => ({ type: "scattergl", mode: "lines", x: r.time, y: t.values,
    name: `${t.unit} ${t.var}`, line: { width: 1 } })), { title: { text: "membrane voltage", font: { size: 13 } },
    xaxis: { title: { text: "simulated time (ms)" } }, yaxis: { title: { text: voltages[0]?.units || "" } },
    shapes, margin: { t: 40 } }, { displaylogo: false });
  const others = r.traces.filter((t) => !voltages.includes(t));
  const synapses = others.filter((t) => t.kind === "synapse");
  const shown = synapses.length ? synapses : others;
  Plotly.react("synapse-plot", shown.map((t) => ({ type: "scattergl", mode: "lines", x: r.time, y: t.values,
    name: `${t.unit}.${t.var}${t.units && t.units !== "1" ? ` (${t.units})` : ""}`, line: { width: 1 } })),
  { title: { text: synapses.length ? "synapse state variables" :
    "other state variables (the synapses have no state variables)", font: { size: 13 } },
  xaxis: { title: { text: "simulated time (ms)" } }, shapes, margin: { t: 40 } }, { displaylogo: false });
  $("checks").querySelector("tbody").innerHTML = r.checks.map((row) =>
    `<tr>${row.map((c) => `<td class="mono">${esc(c)}</td>`).join("")}</tr>`).join("");
  $("replay").dataset.state = r.ok ? "ok" : "differs";
}

// -- progress of a run ------------------------------------------------------------------------------------
async function showProgress() {
  const p = await getJSON(`/api/progress?store=${encodeURIComponent(state.store)}`);
  const done = p.points.length ? p.points[p.points.length - 1] : 0;
  $("progress-text").textContent = `${done} of ${p.total} points in ${p.chunks} written chunk(s)` +
    (p.running ? " — a run is writing this store now (updates every 2 s)" : "");
  Plotly.react("progress-plot", [{ type: "scatter", mode: "lines+markers", x: p.times, y: p.points, line: { shape: "hv" } }],
    { xaxis: { title: { text: "seconds since the store was first shown" } }, yaxis: { title: { text: "points done" }, range: [0, p.total] },
      margin: { t: 10 } }, { displaylogo: false });
  if (!p.running) clearInterval(state.progressTimer);
}

// -- routing ----------------------------------------------------------------------------------------------
async function route() {
  const hash = location.hash || "#/";
  try {
    if (hash.startsWith("#/store/")) await showStore(decodeURIComponent(hash.slice("#/store/".length)));
    else await showList();
  } catch (err) {
    $("plot-error").textContent = err.message;
    $("list-count").innerHTML = `<span class="error">${esc(err.message)}</span>`;
  }
}

$("search").addEventListener("input", () => showList());
$("var-select").addEventListener("change", () => { setAxes(true); draw(); });
$("x-select").addEventListener("change", () => { setAxes(false); draw(); });
$("y-select").addEventListener("change", () => { setAxes(false); draw(); });
$("reduce-select").addEventListener("change", () => {
  for (const box of $("dims").querySelectorAll("input[type=checkbox]")) box.dispatchEvent(new Event("refresh"));
  draw();
});
window.addEventListener("hashchange", route);
route();
