// The dashboard page: polls the controller's JSON documents and draws them. Everything shown
// comes from the same origin; text from the cluster (client and program names, errors) is
// inserted as text, never as markup. A token in the URL fragment (#token=...) is sent as the
// operator credential (needed when the dashboard listens beyond loopback).
"use strict";

const REFRESH_MS = 1500;
const token = new URLSearchParams(location.hash.slice(1)).get("token");

function headers() {
  return token ? { Authorization: "Bearer " + token } : {};
}

async function getJson(path) {
  const res = await fetch(path, { headers: headers(), cache: "no-store" });
  const body = await res.json().catch(() => ({}));
  if (!res.ok) throw new Error(path + ": " + (body.error || res.status + " " + res.statusText));
  return body;
}

// el("td", {class: "num"}, "text", childNode, ...)
function el(tag, attrs, ...children) {
  const node = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) node.setAttribute(k, v);
  for (const c of children) node.append(c instanceof Node ? c : document.createTextNode(String(c)));
  return node;
}

function bytes(b) {
  const units = ["B", "KiB", "MiB", "GiB", "TiB"];
  let i = 0;
  while (b >= 1024 && i < units.length - 1) { b /= 1024; ++i; }
  return (i === 0 ? b : b.toFixed(1)) + " " + units[i];
}

function seconds(s) {
  if (s < 1e-3) return (s * 1e6).toFixed(0) + " µs";
  if (s < 1) return (s * 1e3).toFixed(1) + " ms";
  return s.toFixed(2) + " s";
}

function ago(ms) {
  const s = Math.max(0, (Date.now() - ms) / 1000);
  return s < 60 ? s.toFixed(0) + " s ago" : (s / 60).toFixed(1) + " min ago";
}

function table(columns, rows, empty) {
  if (rows.length === 0) return el("div", { class: "empty" }, empty);
  const head = el("tr", {}, ...columns.map(c => el("th", c.num ? { class: "num" } : {}, c.title)));
  return el("table", {}, el("thead", {}, head), el("tbody", {}, ...rows));
}

function bar(fraction, title) {
  const span = el("span", {});
  span.style.width = (Math.min(1, Math.max(0, fraction)) * 100).toFixed(1) + "%";
  return el("span", { class: "bar", title: title }, span);
}

// Utilisation history [[t_ms, u], ...] as an SVG area over its span (10 s to five minutes).
function sparkline(points) {
  const W = 160, H = 24;
  const span = points.length < 2 ? 10e3
    : Math.min(300e3, Math.max(10e3, points[points.length - 1][0] - points[0][0]));
  const ns = "http://www.w3.org/2000/svg";
  const svg = document.createElementNS(ns, "svg");
  svg.setAttribute("class", "spark");
  svg.setAttribute("width", W);
  svg.setAttribute("height", H);
  svg.setAttribute("viewBox", `0 0 ${W} ${H}`);
  const base = document.createElementNS(ns, "line");
  for (const [k, v] of Object.entries({ x1: 0, y1: H - 0.5, x2: W, y2: H - 0.5, stroke: "#e3e6eb" })) base.setAttribute(k, v);
  svg.append(base);
  if (points.length > 0) {
    const end = points[points.length - 1][0];
    const xy = points.filter(p => p[0] >= end - span)
      .map(([t, u]) => `${(W - (end - t) / span * W).toFixed(1)},${(H - 1 - u * (H - 2)).toFixed(1)}`);
    if (xy.length > 1) {
      const first = xy[0].split(",")[0], last = xy[xy.length - 1].split(",")[0];
      const area = document.createElementNS(ns, "polygon");
      area.setAttribute("points", `${first},${H} ${xy.join(" ")} ${last},${H}`);
      area.setAttribute("fill", "#bfdbfe");
      svg.append(area);
    }
    const line = document.createElementNS(ns, "polyline");
    for (const [k, v] of Object.entries({ points: xy.join(" "), fill: "none", stroke: "#2563eb", "stroke-width": 1.5 })) line.setAttribute(k, v);
    svg.append(line);
  }
  return svg;
}

function renderSummary(cluster, clients) {
  const cards = [
    ["Islands", cluster.islands.length], ["Hosts", cluster.hosts], ["Devices", cluster.devices],
    ["Clients", clients.clients.length], ["Running", cluster.running], ["Runs", cluster.runs],
    ["Programs", cluster.programs], ["Lost hosts", cluster.lost_hosts],
  ];
  document.getElementById("summary").replaceChildren(...cards.map(([label, value]) =>
    el("div", { class: "card", "data-card": label.toLowerCase().replace(" ", "_") },
       el("div", { class: "value" }, value), el("div", { class: "label" }, label))));
}

function renderIslands(cluster) {
  const columns = [{ title: "Device" }, { title: "Kind" }, { title: "Utilisation (up to 5 min)" },
                   { title: "Now", num: true }, { title: "Memory in use" }, { title: "Peak", num: true },
                   { title: "Items run", num: true }];
  const islands = cluster.islands.map(island => {
    const rows = [];
    for (const host of island.hosts) {
      const state = host.answering ? el("span", { class: "badge ok" }, "up")
                                   : el("span", { class: "badge bad", title: host.error }, "not answering");
      rows.push(el("tr", { class: "host", "data-host": host.id },
        el("td", { colspan: 7 }, `host ${host.id} `, state,
           el("span", { class: "muted" }, `  ${host.live_buffers} buffers (${bytes(host.live_buffer_bytes)}), ${host.runs_received} runs received`))));
      for (const d of host.devices) {
        const used = d.memory_capacity_bytes > 0 ? d.memory_in_use_bytes / d.memory_capacity_bytes : 0;
        rows.push(el("tr", { "data-device": d.id },
          el("td", {}, `device ${d.id}`), el("td", {}, d.kind),
          el("td", {}, sparkline(d.utilization_history)),
          el("td", { class: "num" }, (d.utilization * 100).toFixed(0) + "%"),
          el("td", {}, bar(used, `${(used * 100).toFixed(1)}%`), " ",
             `${bytes(d.memory_in_use_bytes)} of ${bytes(d.memory_capacity_bytes)}`),
          el("td", { class: "num" }, bytes(d.peak_memory_in_use_bytes)),
          el("td", { class: "num" }, d.completed_items)));
      }
    }
    const s = island.scheduler;
    const sched = s ? `scheduler ${s.policy}, window ${s.window}, ${s.in_flight} in flight, ${s.queued} queued`
                    : "no scheduler yet";
    return el("div", { class: "island", "data-island": island.id },
      el("h3", {}, `island ${island.id} `, el("span", { class: "muted" },
         `${island.hosts.length} host(s), ${island.devices} device(s); ${sched}`)),
      table(columns, rows, "no hosts"));
  });
  document.getElementById("islands").replaceChildren(
    ...(islands.length ? islands : [el("div", { class: "empty" }, "no islands yet")]));
}

function renderClients(clients) {
  const rows = clients.clients.map(c => el("tr", { "data-client": c.id },
    el("td", {}, `client ${c.id}`), el("td", {}, c.name),
    el("td", { class: "num" }, c.weight), el("td", { class: "num" }, c.priority),
    el("td", { class: "num" }, c.runs), el("td", { class: "num" }, seconds(c.device_seconds)),
    el("td", { class: "num" }, bytes(c.memory_bytes)), el("td", { class: "num" }, c.live_arrays),
    el("td", { class: "wrap" }, c.slices.map(s => `slice ${s.id}: [${s.devices.join(", ")}]`).join("; ") || "none"),
    el("td", { class: "num" }, c.lease_age_seconds === null ? "—" : c.lease_age_seconds.toFixed(1) + " s")));
  document.getElementById("clients").replaceChildren(table(
    [{ title: "Client" }, { title: "Name" }, { title: "Weight", num: true }, { title: "Priority", num: true },
     { title: "Runs", num: true }, { title: "Device time", num: true }, { title: "Memory", num: true },
     { title: "Arrays", num: true }, { title: "Slices (devices)" }, { title: "Lease age", num: true }],
    rows, "no clients connected"));
}

function renderPrograms(programs) {
  const running = programs.running.map(r => el("tr", { "data-run": r.run },
    el("td", {}, `run ${r.run}`), el("td", {}, r.program), el("td", {}, `client ${r.client}`),
    el("td", {}, r.stage < 0 ? "parallel" : `stage ${r.stage}`), el("td", {}, ago(r.started_ms))));
  document.getElementById("running").replaceChildren(table(
    [{ title: "Run" }, { title: "Program" }, { title: "Client" }, { title: "Wave" }, { title: "Started" }],
    running, "nothing running"));
  const failed = programs.failed.map(f => el("tr", { "data-failed-run": f.run },
    el("td", {}, `run ${f.run}`), el("td", {}, f.program), el("td", {}, `client ${f.client}`),
    el("td", {}, f.code), el("td", { class: "errtext" }, f.error), el("td", {}, ago(f.finished_ms))));
  document.getElementById("failed").replaceChildren(table(
    [{ title: "Run" }, { title: "Program" }, { title: "Client" }, { title: "Code" }, { title: "Error" },
     { title: "Finished" }], failed, "no failed runs"));
}

function renderLost(lost) {
  const rows = lost.lost_hosts.map(h => el("tr", { "data-lost-host": h.id },
    el("td", {}, `host ${h.id}`), el("td", {}, h.address), el("td", { class: "errtext" }, h.reason),
    el("td", {}, ago(h.lost_ms))));
  document.getElementById("lost").replaceChildren(table(
    [{ title: "Host" }, { title: "Address" }, { title: "Why" }, { title: "Lost" }], rows, "no host lost"));
}

function showError(message) {
  const box = document.getElementById("error");
  box.textContent = message;
  box.hidden = !message;
}

async function refresh() {
  try {
    const [cluster, clients, programs, lost] = await Promise.all(
      ["api/cluster", "api/clients", "api/programs", "api/lost_hosts"].map(getJson));
    renderSummary(cluster, clients);
    renderIslands(cluster);
    renderClients(clients);
    renderPrograms(programs);
    renderLost(lost);
    document.getElementById("updated").textContent =
      "updated " + new Date(cluster.taken_ms).toLocaleTimeString();
    showError("");
  } catch (e) {
    showError(String(e.message || e));
  }
}

async function downloadTrace(event) {
  event.preventDefault();
  const button = document.getElementById("trace-button");
  const n = document.getElementById("trace-seconds").value;
  button.disabled = true;
  try {
    const res = await fetch("api/trace?seconds=" + encodeURIComponent(n), { headers: headers() });
    if (!res.ok) {
      const body = await res.json().catch(() => ({}));
      throw new Error("trace: " + (body.error || res.status));
    }
    const url = URL.createObjectURL(await res.blob());
    const a = el("a", { href: url, download: `pathways-trace-${n}s.json` });
    document.body.append(a);
    a.click();
    a.remove();
    setTimeout(() => URL.revokeObjectURL(url), 10000);
  } catch (e) {
    showError(String(e.message || e));
  } finally {
    button.disabled = false;
  }
}

document.getElementById("trace-form").addEventListener("submit", downloadTrace);
refresh();
setInterval(refresh, REFRESH_MS);
