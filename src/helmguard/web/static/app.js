// helmguard dashboard: reads /api, draws with DOM calls only (textContent, never innerHTML),
// and refreshes from the /api/stream server-sent events without reloading the page.
"use strict";

const SVG = "http://www.w3.org/2000/svg";
const TOKEN_KEY = "helmguard-token";
const state = { view: null, release: null, refreshTimer: null, info: null };

// ---- small DOM helpers -------------------------------------------------------------------

function el(tag, attrs, ...children) {
  const node = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v === null || v === undefined) continue;
    if (k === "class") node.className = v;
    else if (k === "text") node.textContent = String(v);
    else if (k.startsWith("on")) node.addEventListener(k.slice(2), v);
    else node.setAttribute(k, String(v));
  }
  for (const c of children) {
    if (c === null || c === undefined) continue;
    node.append(c instanceof Node ? c : document.createTextNode(String(c)));
  }
  return node;
}

function svg(tag, attrs, text) {
  const node = document.createElementNS(SVG, tag);
  for (const [k, v] of Object.entries(attrs || {})) node.setAttribute(k, String(v));
  if (text !== undefined) node.textContent = String(text);
  return node;
}

function badge(s) {
  return el("span", { class: `badge s-${String(s).replace(/[^A-Za-z]/g, "")}`, text: s, "data-state": s });
}

function when(iso) {
  if (!iso) return "";
  const d = new Date(iso);
  const secs = Math.max(0, Math.round((Date.now() - d.getTime()) / 1000));
  const ago = secs < 60 ? `${secs}s` : secs < 3600 ? `${Math.round(secs / 60)}m` : secs < 86400 ? `${Math.round(secs / 3600)}h` : `${Math.round(secs / 86400)}d`;
  return `${d.toISOString().replace("T", " ").slice(0, 19)}Z (${ago} ago)`;
}

function refText(r) { return r ? r.text : ""; }

// ---- API access --------------------------------------------------------------------------

function token() { return sessionStorage.getItem(TOKEN_KEY) || ""; }

function takeTokenFromFragment() {
  // `#token=...` never reaches the server; keep it for this tab and drop it from the URL.
  const m = location.hash.match(/^#token=([A-Za-z0-9_\-.~]+)$/);
  if (m) {
    sessionStorage.setItem(TOKEN_KEY, m[1]);
    history.replaceState(null, "", location.pathname + location.search);
  }
}

class Unauthorized extends Error {}

async function api(path, options = {}) {
  const headers = Object.assign({ Accept: "application/json" }, options.headers || {});
  if (token()) headers.Authorization = `Bearer ${token()}`;
  const res = await fetch(path, Object.assign({}, options, { headers }));
  if (res.status === 401) throw new Unauthorized("token needed");
  const body = res.headers.get("content-type", "").includes("json") ? await res.json() : await res.text();
  if (!res.ok) {
    const detail = body && body.detail !== undefined ? body.detail : body;
    const text = Array.isArray(detail) ? detail.map((d) => `${(d.loc || []).join(".")}: ${d.msg}`).join("\n") : String(detail);
    const err = new Error(text);
    err.status = res.status;
    throw err;
  }
  return body;
}

function showTokenForm() {
  const main = document.getElementById("main");
  const form = document.getElementById("token-form").content.firstElementChild.cloneNode(true);
  form.addEventListener("submit", (ev) => {
    ev.preventDefault();
    sessionStorage.setItem(TOKEN_KEY, form.elements.token.value.trim());
    start();
  });
  main.replaceChildren(form);
}

// ---- views -------------------------------------------------------------------------------

async function renderList() {
  const releases = await api("/api/releases");
  const rows = releases.map((r) => {
    const href = `/?release=${encodeURIComponent(r.release.namespace)}/${encodeURIComponent(r.release.name)}` +
      (r.release.cluster ? `&cluster=${encodeURIComponent(r.release.cluster)}` : "");
    return el("tr", { "data-release": `${r.release.namespace}/${r.release.name}` },
      el("td", {}, el("a", { href, text: `${r.release.namespace}/${r.release.name}` })),
      el("td", {}, badge(r.state)),
      el("td", { class: "msg", text: r.summary || "all resources ready" }),
      el("td", { text: `${r.chart} ${r.chart_version}` }),
      el("td", { text: r.current_revision ?? "" }),
      el("td", { class: "muted", text: when(r.since || r.updated_at) }));
  });
  const table = el("table", { id: "releases" },
    el("thead", {}, el("tr", {}, ...["Release", "State", "Root cause", "Chart", "Revision", "Since"].map((h) => el("th", { text: h })))),
    el("tbody", {}, ...rows));
  const empty = releases.length ? null : el("p", { class: "muted", text: "No release recorded yet." });
  document.getElementById("main").replaceChildren(...[el("h1", { text: "Releases" }), table, empty].filter(Boolean));
}

function componentRow(c) {
  const pods = c.pods.length
    ? el("ul", { class: "pods" }, ...c.pods.map((p) => el("li", {}, badge(p.state), " ", p.ref.name, " ", el("span", { class: "msg", text: p.reason }))))
    : el("span", { class: "muted", text: "no pod" });
  return el("tr", { "data-component": c.ref.text },
    el("td", { text: c.ref.text }),
    el("td", { class: "state" }, badge(c.state)),
    el("td", { text: c.reason }),
    el("td", { class: "muted", text: when(c.since) }),
    el("td", { text: refText(c.root_cause) }),
    el("td", { class: "msg", text: c.message }),
    el("td", {}, pods));
}

function resourceRow(r) {
  return el("tr", { "data-resource": r.ref.text },
    el("td", { text: r.ref.text }), el("td", {}, badge(r.state)), el("td", { text: r.reason }),
    el("td", { class: "muted", text: when(r.since) }), el("td", { text: refText(r.root_cause) }),
    el("td", { class: "msg", text: r.message }));
}

function table(id, headers, rows) {
  return el("table", { id },
    el("thead", {}, el("tr", {}, ...headers.map((h) => el("th", { text: h })))),
    el("tbody", {}, ...rows));
}

function drawGraph(g) {
  const W = 210, H = 38, GAPX = 150, GAPY = 22, TOP = 34, LEFT = 16;
  const outside = g.nodes.filter((n) => !n.in_release);
  const columns = g.waves.map((ids, i) => ({ title: `wave ${i}`, ids }));
  if (outside.length) columns.push({ title: "outside the release", ids: outside.map((n) => n.id) });
  const byId = new Map(g.nodes.map((n) => [n.id, n]));
  const pos = new Map();
  columns.forEach((col, ci) => col.ids.forEach((id, ri) => pos.set(id, { x: LEFT + ci * (W + GAPX), y: TOP + ri * (H + GAPY) })));
  const width = LEFT * 2 + Math.max(1, columns.length) * (W + GAPX);
  const height = TOP + Math.max(1, ...columns.map((c) => c.ids.length)) * (H + GAPY) + 20;
  const root = svg("svg", { width, height, viewBox: `0 0 ${width} ${height}`, role: "img", "aria-label": "reference graph" });
  const defs = svg("defs");
  for (const [name, color] of [["arrow", "#8c959f"], ["arrow-broken", "#cf222e"]]) {
    const marker = svg("marker", { id: name, viewBox: "0 0 10 10", refX: 10, refY: 5, markerWidth: 7, markerHeight: 7, orient: "auto-start-reverse" });
    marker.append(svg("path", { d: "M 0 0 L 10 5 L 0 10 z", fill: color }));
    defs.append(marker);
  }
  root.append(defs);
  columns.forEach((col, ci) => root.append(svg("text", { class: "col-title", x: LEFT + ci * (W + GAPX), y: 18 }, col.title)));
  const edges = svg("g", { class: "edges" });
  const labels = svg("g", { class: "labels" });
  for (const e of g.edges) {
    const a = pos.get(e.source), b = pos.get(e.target);
    if (!a || !b) continue;
    // Reference from the dependent (source) to what it needs (target).
    const forward = b.x > a.x;
    const x1 = forward ? a.x + W : a.x, y1 = a.y + H / 2;
    const x2 = forward ? b.x : b.x + W, y2 = b.y + H / 2;
    const dx = Math.max(40, Math.abs(x2 - x1) / 2) * (forward ? 1 : -1);
    const path = svg("path", {
      class: e.broken ? "edge broken" : "edge",
      d: `M ${x1} ${y1} C ${x1 + dx} ${y1}, ${x2 - dx} ${y2}, ${x2} ${y2}`,
      "marker-end": `url(#${e.broken ? "arrow-broken" : "arrow"})`,
      "data-source": e.source, "data-target": e.target, "data-broken": e.broken ? "true" : "false",
    });
    path.append(svg("title", {}, `${e.source} → ${e.target} (${e.path})${e.broken ? `\n${e.message}` : ""}`));
    edges.append(path);
    if (e.broken) {
      // The API server's NotFound words when present; the full message is in the list below.
      const found = e.message.match(/[a-z.]+ "[^"]+" not found/g);
      const text = found ? found[found.length - 1] : e.message.length > 32 ? `${e.message.slice(0, 31)}…` : e.message;
      labels.append(svg("text", { class: "edge-label", x: (x1 + x2) / 2, y: (y1 + y2) / 2 + 31, "text-anchor": "middle" }, text || "broken"));
    }
  }
  root.append(edges);
  const nodes = svg("g", { class: "nodes" });
  for (const [id, p] of pos) {
    const n = byId.get(id);
    const s = n ? n.state : "Unknown";
    const group = svg("g", { class: `node${n && !n.in_release ? " external" : ""}`, "data-node": id, "data-state": s });
    group.append(svg("rect", { x: p.x, y: p.y, width: W, height: H, fill: `var(--${s.toLowerCase()}, #6e7781)` }));
    const kind = n ? n.ref.kind : "";
    const name = n ? n.ref.name : id;
    group.append(svg("text", { x: p.x + 8, y: p.y + 15 }, `${kind} · ${s}`));
    group.append(svg("text", { x: p.x + 8, y: p.y + 30 }, name.length > 31 ? `${name.slice(0, 30)}…` : name));
    group.append(svg("title", {}, `${id}\n${s}: ${n ? n.reason : ""}\n${n ? n.message : ""}`));
    nodes.append(group);
  }
  root.append(nodes, labels);
  const broken = g.edges.filter((e) => e.broken);
  const list = broken.length
    ? el("ul", { class: "broken-list" }, ...broken.map((e) => el("li", { "data-broken-edge": `${e.source} -> ${e.target}` },
      `${e.source} → ${e.target} (${e.path}): `, el("span", { class: "msg", text: e.message }))))
    : null;
  return el("div", { id: "graph" }, el("div", { class: "graph" }, root), list);
}

function timeline(id, items, line) {
  if (!items.length) return el("p", { id, class: "muted", text: "nothing recorded" });
  return el("ul", { id, class: "timeline" }, ...items.map(line));
}

async function renderRelease(ns, name, cluster) {
  const q = cluster ? `?cluster=${encodeURIComponent(cluster)}` : "";
  const base = `/api/releases/${encodeURIComponent(ns)}/${encodeURIComponent(name)}`;
  const [detail, graph, events, history, oplog, revisions] = await Promise.all([
    api(base + q), api(`${base}/graph${q}`), api(`${base}/events${q}`),
    api(`${base}/history${q}`), api(`${base}/log${q}`), api(`${base}/revisions${q}`),
  ]);
  const st = detail.status;
  const head = el("div", { id: "release-status" },
    el("h1", {}, `${ns}/${name} `, badge(st.state)),
    el("p", { class: "summary" },
      el("span", { class: "msg", id: "release-message", text: st.message }),
      st.root_cause ? el("span", { class: "muted", text: ` — root cause: ${st.root_cause.text}` }) : null,
      st.since ? el("span", { class: "muted", text: ` — since ${when(st.since)}` }) : null),
    el("p", { class: "muted", text: `chart ${detail.chart} ${detail.chart_version}, revision ${detail.current_revision ?? "none"}` }));
  const comps = table("components", ["Component", "State", "Reason", "Since", "Root cause", "Message", "Pods"], detail.components.map(componentRow));
  const res = table("resources", ["Resource", "State", "Reason", "Since", "Root cause", "Message"], detail.resources.map(resourceRow));
  const ev = timeline("events", events, (e) => el("li", {},
    el("span", { class: "muted", text: when(e.last_seen) }), " ",
    el("span", { class: e.type === "Warning" ? "Warning" : "", text: `${e.type} ${e.reason}` }),
    ` ${e.ref.text}${e.count > 1 ? ` (×${e.count})` : ""}: `, el("span", { class: "msg", text: e.message })));
  const hist = timeline("history", history, (t) => el("li", {},
    el("span", { class: "muted", text: when(t.at) }), " ", t.ref.text, " ",
    t.from_state ? badge(t.from_state) : el("span", { class: "muted", text: "(new)" }), " → ", badge(t.to_state),
    " ", el("span", { class: "msg", text: `${t.reason}: ${t.message}` })));
  const byRevision = new Map();
  for (const e of oplog) {
    if (!byRevision.has(e.revision)) byRevision.set(e.revision, []);
    byRevision.get(e.revision).push(e);
  }
  const ops = el("div", { id: "operations" }, ...(revisions.length ? revisions : [...byRevision.keys()].map((n) => ({ number: n }))).slice().reverse().map((r) =>
    el("div", { "data-revision": r.number },
      el("h3", { text: `revision ${r.number}${r.outcome ? ` — ${r.outcome}` : ""}${r.started_at ? ` — ${when(r.started_at)}` : ""}` }),
      timeline(`log-${r.number}`, byRevision.get(r.number) || [], (e) => el("li", {},
        el("span", { class: "muted", text: when(e.at) }), " ",
        el("span", { class: e.level === "error" ? "Warning" : "", text: `[${e.level}] ${e.step}` }), " ",
        el("span", { class: "msg", text: e.message }))))));
  document.getElementById("main").replaceChildren(
    el("p", {}, el("a", { href: "/", text: "← all releases" })), head, releaseActions(ns, name, revisions),
    el("h2", { text: "Components" }), comps,
    el("h2", { text: "Dependencies" }), drawGraph(graph),
    el("h2", { text: "Other resources" }), res,
    el("h2", { text: "Events" }), ev,
    el("h2", { text: "Status history" }), hist,
    el("h2", { text: "Operation log" }), ops);
}

// ---- live updates ------------------------------------------------------------------------

function scheduleRefresh() {
  if (state.refreshTimer) return;
  state.refreshTimer = setTimeout(() => { state.refreshTimer = null; route().catch(showError); }, 250);
}

function showError(err) {
  if (err instanceof Unauthorized) return showTokenForm();
  document.getElementById("main").replaceChildren(el("p", { class: "error", text: err.message }));
  if (err.status === 404 && state.view === "release") setTimeout(scheduleRefresh, 2000);
}

async function stream() {
  // fetch() rather than EventSource: EventSource cannot send the Authorization header.
  const headers = token() ? { Authorization: `Bearer ${token()}` } : {};
  const live = document.getElementById("live");
  for (;;) {
    try {
      const res = await fetch("/api/stream", { headers });
      if (!res.ok || !res.body) throw new Error(`stream: HTTP ${res.status}`);
      live.textContent = "live"; live.className = "live on";
      const reader = res.body.pipeThrough(new TextDecoderStream()).getReader();
      let buffer = "";
      for (;;) {
        const { value, done } = await reader.read();
        if (done) break;
        buffer += value;
        let cut;
        while ((cut = buffer.indexOf("\n\n")) >= 0) {
          const block = buffer.slice(0, cut);
          buffer = buffer.slice(cut + 2);
          onEvent(block);
        }
      }
    } catch (_) { /* reconnect below */ }
    live.textContent = "offline"; live.className = "live off";
    await new Promise((r) => setTimeout(r, 2000));
  }
}

function onEvent(block) {
  let type = "message", data = "";
  for (const line of block.split("\n")) {
    if (line.startsWith("event: ")) type = line.slice(7);
    else if (line.startsWith("data: ")) data += line.slice(6);
  }
  if (!data) return;
  if (type === "resync") return scheduleRefresh();
  const payload = JSON.parse(data);
  if (state.view === "list") return scheduleRefresh();
  if (state.view === "release" && payload.release &&
      payload.release.namespace === state.release[0] && payload.release.name === state.release[1]) scheduleRefresh();
}

// ---- routing -----------------------------------------------------------------------------

async function route() {
  const params = new URLSearchParams(location.search);
  const rel = params.get("release");
  if (params.get("view") === "deploy") { state.view = "deploy"; return renderEditor(params); }
  if (params.get("view") === "catalogue") { state.view = "catalogue"; return renderCatalogue(); }
  if (rel && rel.includes("/")) {
    const i = rel.indexOf("/");
    state.view = "release";
    state.release = [rel.slice(0, i), rel.slice(i + 1), params.get("cluster") || ""];
    return renderRelease(...state.release);
  }
  state.view = "list";
  return renderList();
}

let streaming = false;
async function start() {
  try {
    state.info = await api("/api/info");
  } catch (err) { return showError(err); }
  if (!streaming) { streaming = true; stream(); }
  try {
    await route();
  } catch (err) {
    showError(err);
    // A release being deployed is recorded a moment later: look again until it is.
  }
}

takeTokenFromFragment();
document.addEventListener("DOMContentLoaded", start);
