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

// ---- clusters ----------------------------------------------------------------------------
// A release is (cluster, namespace, name): "" is the default cluster, shown as the API's label.

function clusterLabel(name) { return name || "(default)"; }

// `?cluster=NAME` for an API call about a release of cluster NAME; nothing for the default.
function clusterQuery(cluster) {
  return cluster ? `?cluster=${encodeURIComponent(cluster)}` : "";
}

function releaseHref(release) {
  return `/?release=${encodeURIComponent(release.namespace)}/${encodeURIComponent(release.name)}` +
    (release.cluster ? `&cluster=${encodeURIComponent(release.cluster)}` : "");
}

// Why the sync cannot see a cluster, in two words: it cannot connect, or its watches are down.
function awayWord(c) { return c.unreachable.reason === "WatchDisconnected" ? "watch down" : "unreachable"; }

// The red line an unreachable cluster gets wherever its releases are shown: its releases
// are stored Unknown for that reason, not green.
function unreachableBanner(c) {
  const u = c.unreachable;
  return el("p", { class: "banner unreachable", role: "alert", "data-cluster": c.name },
    el("strong", { text: `Cluster ${c.label} ${awayWord(c)}` }),
    ` (${u.releases} release(s) stored Unknown): `, el("span", { class: "msg", text: u.message }));
}

// What the page says above a cluster's releases: unreachable in red; a sync that died
// holding its lease (its statuses are no longer kept up to date) in amber; else nothing.
function clusterBanner(c) {
  if (!c.reachable) return unreachableBanner(c);
  if (c.sync && !c.sync.alive) {
    return el("p", { class: "banner stale", role: "status", "data-cluster": c.name },
      el("strong", { text: `Cluster ${c.label}: its sync stopped` }),
      ` (last heartbeat ${Math.round(c.sync.heartbeat_age_seconds)}s ago): the stored statuses of its releases are not kept up to date.`);
  }
  return null;
}

function syncText(c) {
  if (!c.sync) return "no sync running";
  const age = `last heartbeat ${Math.round(c.sync.heartbeat_age_seconds)}s ago`;
  return c.sync.alive ? `synced (${age})` : `sync stopped (${age})`;
}

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

function table(id, headers, rows) {
  return el("table", { id },
    el("thead", {}, el("tr", {}, ...headers.map((h) => el("th", { text: h })))),
    el("tbody", {}, ...rows));
}

function timeline(id, items, line) {
  if (!items.length) return el("p", { id, class: "muted", text: "nothing recorded" });
  return el("ul", { id, class: "timeline" }, ...items.map(line));
}

// ---- views -------------------------------------------------------------------------------
// The release list is releases.js's, a release's page release.js's.

// ---- live updates ------------------------------------------------------------------------

// Only the live views (the list, a release's page) are redrawn; the deploy and catalogue views
// are forms the user is filling in, which a stream event or (re)connection must not reset.
function scheduleRefresh() {
  if (state.refreshTimer || (state.view !== "list" && state.view !== "release")) return;
  state.refreshTimer = setTimeout(() => { state.refreshTimer = null; route().catch(showError); }, 100);
}

function showError(err) {
  if (err instanceof Unauthorized) return showTokenForm();
  // A release gone (just uninstalled from this page) still shows what its operation did.
  const ended = state.view === "release" ? releaseOperationView(state.release) : null;
  document.getElementById("main").replaceChildren(el("p", { class: "error", text: err.message }), ended || "");
  if (err.status === 404 && state.view === "release") setTimeout(scheduleRefresh, 2000);
}

// What the stream carries: the release shown, else the list's cluster, else everything.
function streamPath() {
  const q = new URLSearchParams();
  if (state.view === "release") {
    q.set("namespace", state.release[0]); q.set("name", state.release[1]);
    if (state.release[2]) q.set("cluster", state.release[2]);
  } else if (state.view === "list" && listFilter.cluster !== null) q.set("cluster", listFilter.cluster);
  const query = q.toString();
  return query ? `/api/stream?${query}` : "/api/stream";
}

let streamAbort = null;
// Reconnect when what the stream should carry changed (the list's cluster filter).
function restartStream() {
  if (streamAbort && streamAbort.path !== streamPath()) streamAbort.abort();
}

async function stream() {
  // fetch() rather than EventSource: EventSource cannot send the Authorization header.
  const headers = token() ? { Authorization: `Bearer ${token()}` } : {};
  const live = document.getElementById("live");
  for (;;) {
    const path = streamPath();
    streamAbort = new AbortController();
    streamAbort.path = path;
    try {
      const res = await fetch(path, { headers, signal: streamAbort.signal });
      live.dataset.stream = path;
      if (!res.ok || !res.body) throw new Error(`stream: HTTP ${res.status}`);
      live.textContent = "live"; live.className = "live on";
      // What was committed between the page's last read and this subscription is in no
      // event: read once more now that nothing can be missed.
      scheduleRefresh();
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
    if (streamAbort.signal.aborted) continue; // a new scope, not a lost connection
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
  // The list shows no Events; a release's page (its Events, an object's panel) does.
  if (state.view === "list") return type === "event" ? undefined : scheduleRefresh();
  const r = payload.release;
  if (state.view === "release" && r && r.namespace === state.release[0] && r.name === state.release[1] &&
      (r.cluster || "") === state.release[2]) scheduleRefresh();
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
  readListFilter();
  restartStream();
  return renderList();
}

let streaming = false;
async function start() {
  try {
    state.info = await api("/api/info");
  } catch (err) { return showError(err); }
  // route() decides the view before its first await: the stream starts on its scope.
  const routed = route();
  if (!streaming) { streaming = true; stream(); }
  try {
    await routed;
  } catch (err) {
    showError(err);
    // A release being deployed is recorded a moment later: look again until it is.
  }
}

takeTokenFromFragment();
document.addEventListener("DOMContentLoaded", start);
// The list's filters live in the URL fragment: back, forward and a pasted link show them.
window.addEventListener("hashchange", () => { if (state.view === "list") route().catch(showError); });
