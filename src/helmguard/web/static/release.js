// helmguard dashboard: one release's page. Components as a tree (workload -> ReplicaSet /
// Job -> pods, from ownerReferences), search and filters, the dependency picture laid out
// by ELK (elkjs from npm, static/vendor/), grouped by component with broken edges first, a
// status timeline, the operation log per revision, an object's Events on click.
// Helpers (el, svg, badge, when, api, table, timeline) are app.js's; DOM calls only.
// Past 400 lines: the page's sections render from one fetched detail, kept in one file.
"use strict";

const WORKLOAD_KINDS = new Set(["Deployment", "StatefulSet", "DaemonSet", "ReplicaSet", "Job", "CronJob", "Pod", "ReplicationController"]);
const APP_GROUP = "helmguard.io";
const NODE_W = 210, NODE_H = 38, GROUP_TOP = 24;
const view = { key: null, search: "", kind: "", state: "", selected: null, layoutKey: null, layout: null };
const ELK_WORKER = "/static/vendor/elk-worker.min.js";
let elkEngine = null;
let workerFailed = null;

function layoutEngine() {
  if (typeof ELK === "undefined") return null;
  if (!elkEngine) {
    // The layout runs in a worker: the tables are built meanwhile on the page's thread.
    workerFailed = new Promise((_, reject) => {
      elkEngine = new ELK({
        workerUrl: ELK_WORKER,
        workerFactory: (url) => {
          const worker = new Worker(url);
          worker.addEventListener("error", () => reject(new Error(`${url} could not be loaded`)));
          return worker;
        },
      });
    });
    workerFailed.catch(() => {});
  }
  return elkEngine;
}

function missingLibrary(why) {
  return el("p", { class: "error", id: "graph-missing",
    text: `The dependency picture needs the graph layout library (elkjs), missing from this server's static/vendor/ directory (${why}): run scripts/web (or scripts/bootstrap) where helmguard is installed.` });
}

// Warm the layout code up while the page's data are being fetched (its first run is slow).
const warmed = (() => {
  const engine = layoutEngine();
  if (!engine) return Promise.resolve();
  return engine.layout(elkGraph([{ id: "warm", nodes: ["a", "b"], edges: [["a", "b"]] }])).catch(() => {});
})();

// ---- components, resources, filters --------------------------------------------------

function refKey(ref) { return ref.text; }

function objButton(ref, label) {
  return el("button", { type: "button", class: "obj", "data-ref": JSON.stringify(ref), onclick: () => openPanel(ref) }, label || ref.text);
}

function podLine(p) {
  const restarts = p.restarts === null || p.restarts === undefined ? "" : `${p.restarts} restart${p.restarts === 1 ? "" : "s"}`;
  return [badge(p.state), " ", objButton(p.ref, p.ref.name), " ",
    restarts ? el("span", { class: "restarts", "data-restarts": p.restarts, text: restarts }) : null, " ",
    el("span", { class: "reason", text: p.reason }),
    p.state !== "Ready" && p.message ? el("span", { class: "msg", text: ` — ${p.message}` }) : null];
}

function childTree(nodes) {
  return el("ul", { class: "tree" }, ...nodes.map((n) => {
    const isPod = n.ref.kind === "Pod";
    return el("li", {
      "data-child": n.ref.text, "data-kind": n.ref.kind, "data-state": n.state,
      ...(isPod ? { "data-pod": n.ref.name } : {}),
    },
    isPod ? el("span", {}, ...podLine(n)) : el("span", {}, el("span", { class: "kind", text: n.ref.kind }), " ", badge(n.state), " ", objButton(n.ref, n.ref.name), " ", el("span", { class: "reason", text: n.reason })),
    n.children.length ? childTree(n.children) : null);
  }));
}

function componentRow(c) {
  const tree = c.children.length ? childTree(c.children) : null;
  const nopod = c.pods.length ? null : el("span", { class: "muted", text: "no pod" });
  return el("tr", { "data-component": c.ref.text, "data-kind": c.ref.kind, "data-state": c.state },
    el("td", {}, objButton(c.ref)),
    el("td", { class: "state" }, badge(c.state)),
    el("td", { text: c.reason }),
    el("td", { class: "muted", text: when(c.since) }),
    el("td", { text: refText(c.root_cause) }),
    el("td", { class: "msg", text: c.message }),
    el("td", { class: "pods-cell" }, tree, nopod));
}

function resourceRow(r) {
  return el("tr", { "data-resource": r.ref.text, "data-kind": r.ref.kind, "data-state": r.state },
    el("td", {}, objButton(r.ref)), el("td", { class: "state" }, badge(r.state)), el("td", { text: r.reason }),
    el("td", { class: "muted", text: when(r.since) }), el("td", { text: refText(r.root_cause) }),
    el("td", { class: "msg", text: r.message }));
}

function matches(text, kind, st) {
  return (!view.search || text.toLowerCase().includes(view.search.toLowerCase())) &&
    (!view.kind || kind === view.kind) && (!view.state || st === view.state);
}

function applyFilters() {
  let shown = 0, total = 0;
  for (const row of document.querySelectorAll("#components tbody tr")) {
    const own = matches(row.dataset.component, row.dataset.kind, row.dataset.state);
    const child = [...row.querySelectorAll("li[data-child]")].some((li) => matches(li.dataset.child, li.dataset.kind, li.dataset.state));
    row.hidden = !(own || child);
    total++; if (!row.hidden) shown++;
  }
  for (const row of document.querySelectorAll("#resources tbody tr")) {
    row.hidden = !matches(row.dataset.resource, row.dataset.kind, row.dataset.state);
    total++; if (!row.hidden) shown++;
  }
  for (const node of document.querySelectorAll("#graph g.node")) {
    node.classList.toggle("dim", !matches(node.dataset.node, node.dataset.kind, node.dataset.state));
  }
  const note = document.getElementById("filter-count");
  if (note) note.textContent = view.search || view.kind || view.state ? `${shown} of ${total} objects match` : `${total} objects`;
}

function toolbar(kinds) {
  const search = el("input", { type: "search", id: "search", placeholder: "search by name", value: view.search, "aria-label": "search objects by name" });
  search.addEventListener("input", () => { view.search = search.value; applyFilters(); });
  const kindSel = el("select", { id: "filter-kind", "aria-label": "filter by kind" }, el("option", { value: "", text: "all kinds" }), ...kinds.map((k) => el("option", { value: k, text: k })));
  kindSel.value = view.kind;
  kindSel.addEventListener("change", () => { view.kind = kindSel.value; applyFilters(); });
  const stateSel = el("select", { id: "filter-state", "aria-label": "filter by state" }, el("option", { value: "", text: "all states" }), ...STATES.map((s) => el("option", { value: s, text: s })));
  stateSel.value = view.state;
  stateSel.addEventListener("change", () => { view.state = stateSel.value; applyFilters(); });
  return el("div", { class: "toolbar", id: "release-filters" },
    el("label", { class: "filter" }, "Search ", search), el("label", { class: "filter" }, "Kind ", kindSel),
    el("label", { class: "filter" }, "State ", stateSel), el("span", { class: "muted", id: "filter-count" }));
}

// ---- the object panel: state, Events, transitions -------------------------------------

function refQuery(ref) {
  const q = new URLSearchParams({ group: ref.group, kind: ref.kind, object_namespace: ref.namespace, object_name: ref.name });
  const cluster = state.release[2];
  if (cluster) q.set("cluster", cluster);
  return q.toString();
}

function findObject(ref) {
  const d = view.detail;
  const all = [...d.components, ...d.resources];
  const walk = (nodes) => { for (const n of nodes) { all.push(n); walk(n.children); } };
  for (const c of d.components) walk(c.children);
  const found = all.find((o) => o.ref.text === ref.text);
  if (found) return found;
  const node = view.graph.nodes.find((n) => n.ref.text === ref.text);
  return node ? Object.assign({ root_cause: null }, node) : null;
}

async function openPanel(ref) {
  view.selected = ref;
  await fillPanel(true);
}

async function fillPanel(focus) {
  const panel = document.getElementById("object-panel");
  const ref = view.selected;
  if (!panel || !ref) return;
  const [ns, name] = state.release;
  const base = `/api/releases/${encodeURIComponent(ns)}/${encodeURIComponent(name)}`;
  const [events, transitions] = await Promise.all([api(`${base}/events?${refQuery(ref)}`), api(`${base}/history?${refQuery(ref)}`)]);
  const obj = findObject(ref);
  const hadFocus = panel.contains(document.activeElement);
  const title = el("h2", { tabindex: "-1", id: "object-title" }, ref.text, " ", obj ? badge(obj.state) : null);
  const close = el("button", { type: "button", id: "close-panel", text: "Close", onclick: () => { view.selected = null; panel.hidden = true; panel.replaceChildren(); } });
  panel.replaceChildren(
    el("div", { class: "panel-head" }, title, close),
    obj ? el("p", {}, el("strong", { text: obj.reason }), " ", el("span", { class: "msg", text: obj.message })) : el("p", { class: "muted", text: "not in the stored statuses" }),
    obj && obj.root_cause ? el("p", { class: "muted", text: `root cause: ${obj.root_cause.text}` }) : null,
    obj && obj.since ? el("p", { class: "muted", text: `since ${when(obj.since)}` }) : null,
    el("h3", { text: "Kubernetes Events" }),
    timeline("object-events", events, (e) => el("li", {},
      el("span", { class: "muted", text: when(e.last_seen) }), " ",
      el("span", { class: e.type === "Warning" ? "Warning" : "", text: `${e.type} ${e.reason}` }),
      `${e.count > 1 ? ` (×${e.count})` : ""}: `, el("span", { class: "msg", text: e.message }))),
    el("h3", { text: "Status transitions" }),
    timeline("object-history", transitions, (t) => el("li", {},
      el("span", { class: "muted", text: when(t.at) }), " ",
      t.from_state ? badge(t.from_state) : el("span", { class: "muted", text: "(new)" }), " → ", badge(t.to_state),
      " ", el("span", { class: "msg", text: `${t.reason}: ${t.message}` }))));
  panel.hidden = false;
  if (focus || hadFocus) title.focus();
}

// ---- the dependency picture -------------------------------------------------------------

function componentGroups(g) {
  const byId = new Map(g.nodes.map((n) => [n.id, n]));
  const workload = (id) => { const n = byId.get(id); return !!n && n.in_release && WORKLOAD_KINDS.has(n.ref.kind); };
  const owners = new Map();
  const own = (id, w) => { if (!owners.has(id)) owners.set(id, new Set()); owners.get(id).add(w); };
  const edges = g.edges.filter((e) => byId.has(e.source) && byId.has(e.target));
  for (const e of edges) {
    if (workload(e.source) && !workload(e.target)) own(e.target, e.source);
    else if (workload(e.target) && !workload(e.source)) own(e.source, e.target);
  }
  const group = new Map();
  for (const n of g.nodes) {
    if (!n.in_release) group.set(n.id, "outside");
    else if (workload(n.id)) group.set(n.id, n.id);
    else if (owners.has(n.id)) group.set(n.id, owners.get(n.id).size === 1 ? [...owners.get(n.id)][0] : "shared");
  }
  // One step further: an Ingress to a Service of one component belongs with it.
  for (const e of edges) {
    for (const [a, b] of [[e.source, e.target], [e.target, e.source]]) {
      if (!group.has(a) && group.has(b) && byId.get(a).in_release && !["shared", "outside"].includes(group.get(b))) group.set(a, group.get(b));
    }
  }
  // A Service, NetworkPolicy or HPA selects pods, which the graph does not draw: it joins
  // the one workload with its component (or name) label when the plan kept labels, else
  // the one workload of its namespace and name, as charts name a component's objects.
  const label = (n) => n.labels["app.kubernetes.io/component"] || n.labels["app.kubernetes.io/name"] || "";
  const hints = [(n) => label(n) && `label ${label(n)}`, (n) => `name ${n.ref.namespace}/${n.ref.name}`];
  for (const hint of hints) {
    const by = new Map();
    for (const n of g.nodes) {
      const h = workload(n.id) && hint(n);
      if (h) by.set(h, by.has(h) ? null : n.id);
    }
    for (const n of g.nodes) {
      const h = !group.has(n.id) && n.in_release && hint(n);
      if (h && by.get(h)) group.set(n.id, by.get(h));
    }
  }
  for (const n of g.nodes) if (!group.has(n.id)) group.set(n.id, "other");
  const members = new Map();
  for (const n of g.nodes) {
    const id = group.get(n.id);
    if (!members.has(id)) members.set(id, []);
    members.get(id).push(n.id);
  }
  const broken = new Set();
  for (const e of edges) if (e.broken) { broken.add(group.get(e.source)); broken.add(group.get(e.target)); }
  const trouble = (id) => members.get(id).some((m) => ["Failed", "Blocked", "Missing"].includes(byId.get(m).state));
  const title = (id) => id === "outside" ? "outside the release" : id === "shared" ? "shared by several components"
    : id === "other" ? "other resources" : `component ${byId.get(id).ref.kind} ${byId.get(id).ref.name}`;
  const rank = (id) => (broken.has(id) ? 0 : trouble(id) ? 1 : 2) * 10 + (id === "shared" ? 1 : id === "other" ? 2 : id === "outside" ? 3 : 0);
  const groups = [...members.keys()].sort((a, b) => rank(a) - rank(b) || a.localeCompare(b)).map((id) => ({
    id, title: title(id), nodes: members.get(id),
    edges: edges.filter((e) => group.get(e.source) === id && group.get(e.target) === id).map((e) => [e.source, e.target]),
  }));
  return { groups, group, edges };
}

function elkGraph(groups) {
  return {
    id: "root",
    layoutOptions: { "elk.algorithm": "rectpacking", "elk.spacing.nodeNode": "18", "elk.aspectRatio": "1.8", "elk.padding": "[top=8,left=8,bottom=8,right=8]" },
    children: groups.map((gr, gi) => ({
      id: `group-${gi}`,
      layoutOptions: {
        "elk.algorithm": "mrtree", "elk.direction": "RIGHT", "elk.spacing.nodeNode": "14",
        "elk.padding": `[top=${GROUP_TOP + 8},left=10,bottom=10,right=10]`,
      },
      children: gr.nodes.map((id) => ({ id, width: NODE_W, height: NODE_H })),
      edges: gr.edges.map(([s, t], i) => ({ id: `g${gi}e${i}`, sources: [s], targets: [t] })),
    })),
  };
}

async function layout(groups) {
  const key = JSON.stringify(groups.map((g) => [g.nodes, g.edges]));
  if (view.layoutKey === key && view.layout) return view.layout;
  const engine = layoutEngine();
  await warmed;
  const out = await Promise.race([engine.layout(elkGraph(groups)), workerFailed]);
  const pos = new Map(), boxes = [];
  out.children.forEach((gr, gi) => {
    boxes.push({ x: gr.x, y: gr.y, width: gr.width, height: gr.height, title: groups[gi].title, id: groups[gi].id });
    for (const n of gr.children) pos.set(n.id, { x: gr.x + n.x, y: gr.y + n.y });
  });
  view.layoutKey = key;
  view.layout = { pos, boxes, width: out.width, height: out.height };
  return view.layout;
}

function edgePath(e, lay) {
  // The tree puts a component's dependencies right of it: a curve from side to side.
  const a = lay.pos.get(e.source), b = lay.pos.get(e.target);
  if (Math.abs(a.x - b.x) < NODE_W) {
    const x = Math.max(a.x, b.x) + NODE_W, y1 = a.y + NODE_H / 2, y2 = b.y + NODE_H / 2;
    return `M ${a.x + NODE_W} ${y1} C ${x + 30} ${y1}, ${x + 30} ${y2}, ${b.x + NODE_W} ${y2}`;
  }
  const forward = b.x >= a.x + NODE_W;
  const x1 = forward ? a.x + NODE_W : a.x, y1 = a.y + NODE_H / 2;
  const x2 = forward ? b.x : b.x + NODE_W, y2 = b.y + NODE_H / 2;
  const dx = Math.max(40, Math.abs(x2 - x1) / 2) * (forward ? 1 : -1);
  return `M ${x1} ${y1} C ${x1 + dx} ${y1}, ${x2 - dx} ${y2}, ${x2} ${y2}`;
}

function brokenList(broken) {
  if (!broken.length) return el("p", { class: "muted", id: "no-broken", text: "No broken reference." });
  return el("ul", { class: "broken-list" }, ...broken.map((e) => el("li", { "data-broken-edge": `${e.source} -> ${e.target}` },
    `${e.source} → ${e.target} (${e.path}): `, el("span", { class: "msg", text: e.message }))));
}

function startLayout(g) {
  if (!layoutEngine()) return null;
  const grouped = componentGroups(g);
  return { grouped, laid: layout(grouped.groups) };
}

async function drawGraph(g, started) {
  const list = brokenList(g.edges.filter((e) => e.broken));
  if (!started) return el("div", { id: "graph" }, list, missingLibrary("vendor/elk-api.js"));
  let lay;
  try {
    lay = await started.laid;
  } catch (err) {
    return el("div", { id: "graph" }, list, missingLibrary(err.message));
  }
  const { edges } = started.grouped;
  const byId = new Map(g.nodes.map((n) => [n.id, n]));
  const width = Math.ceil(lay.width), height = Math.ceil(lay.height);
  const root = svg("svg", { width, height, viewBox: `0 0 ${width} ${height}`, role: "group", "aria-label": "dependency graph, grouped by component" });
  const defs = svg("defs");
  for (const [name, color] of [["arrow", "#8c959f"], ["arrow-broken", "#cf222e"]]) {
    const marker = svg("marker", { id: name, viewBox: "0 0 10 10", refX: 10, refY: 5, markerWidth: 7, markerHeight: 7, orient: "auto-start-reverse" });
    marker.append(svg("path", { d: "M 0 0 L 10 5 L 0 10 z", fill: color }));
    defs.append(marker);
  }
  root.append(defs);
  const frames = svg("g", { class: "groups" });
  for (const b of lay.boxes) {
    frames.append(svg("rect", { class: "group", x: b.x, y: b.y, width: b.width, height: b.height, "data-group": b.id }));
    frames.append(svg("text", { class: "group-title", x: b.x + 10, y: b.y + 17 }, b.title));
  }
  const nodes = svg("g", { class: "nodes" });
  for (const [id, p] of lay.pos) {
    const n = byId.get(id);
    const s = n.state;
    const node = svg("g", {
      class: `node${n.in_release ? "" : " external"}`, "data-node": id, "data-kind": n.ref.kind, "data-state": s,
      tabindex: "0", role: "button", "aria-label": `${id}: ${s}`,
    });
    node.append(svg("rect", { x: p.x, y: p.y, width: NODE_W, height: NODE_H, fill: `var(--${s.toLowerCase()}, #6e7781)` }));
    node.append(svg("text", { x: p.x + 8, y: p.y + 15 }, `${n.ref.kind} · ${s}`));
    node.append(svg("text", { x: p.x + 8, y: p.y + 30 }, n.ref.name.length > 31 ? `${n.ref.name.slice(0, 30)}…` : n.ref.name));
    node.append(svg("title", {}, `${id}\n${s}: ${n.reason}\n${n.message}`));
    const open = () => openPanel(n.ref);
    node.addEventListener("click", open);
    node.addEventListener("keydown", (ev) => { if (ev.key === "Enter" || ev.key === " ") { ev.preventDefault(); open(); } });
    nodes.append(node);
  }
  const lines = svg("g", { class: "edges" });
  const labels = svg("g", { class: "labels" });
  // Broken edges last: drawn on top of the others.
  for (const e of [...edges.filter((x) => !x.broken), ...edges.filter((x) => x.broken)]) {
    const path = svg("path", {
      class: e.broken ? "edge broken" : "edge", d: edgePath(e, lay),
      "marker-end": `url(#${e.broken ? "arrow-broken" : "arrow"})`,
      "data-source": e.source, "data-target": e.target, "data-broken": e.broken ? "true" : "false",
    });
    path.append(svg("title", {}, `${e.source} → ${e.target} (${e.path})${e.broken ? `\n${e.message}` : ""}`));
    lines.append(path);
    if (e.broken) {
      const found = e.message.match(/[a-z.]+ "[^"]+" not found/g);
      const text = found ? found[found.length - 1] : e.message.length > 32 ? `${e.message.slice(0, 31)}…` : e.message;
      const b = lay.pos.get(e.target);
      labels.append(svg("text", { class: "edge-label", x: b.x, y: b.y + NODE_H + 11 }, text || "broken"));
    }
  }
  root.append(frames, lines, nodes, labels);
  return el("div", { id: "graph" }, list, el("div", { class: "graph" }, root));
}

// ---- status timeline ----------------------------------------------------------------------

function statusTimeline(history, now) {
  if (!history.length) return el("p", { id: "timeline", class: "muted", text: "no transition recorded yet" });
  const lanes = new Map();
  for (const t of history.slice().reverse()) {
    const id = t.ref.group === APP_GROUP ? "release" : t.ref.text;
    if (!lanes.has(id)) lanes.set(id, []);
    lanes.get(id).push(t);
  }
  const order = [...lanes.keys()].sort((a, b) => (a === "release" ? -1 : b === "release" ? 1 : 0) ||
    STATES.indexOf(lanes.get(a).at(-1).to_state) - STATES.indexOf(lanes.get(b).at(-1).to_state) || a.localeCompare(b)).slice(0, 40);
  const start = Math.min(...history.map((t) => Date.parse(t.at)));
  const end = Math.max(now, ...history.map((t) => Date.parse(t.at))) + 1000;
  const LABEL = 300, W = 900, ROW = 20;
  const x = (ms) => LABEL + ((ms - start) / (end - start)) * W;
  const height = order.length * ROW + 24;
  const root = svg("svg", { id: "timeline", width: LABEL + W + 10, height, viewBox: `0 0 ${LABEL + W + 10} ${height}`, role: "img",
    "aria-label": `status timeline of ${order.length} object(s) from ${new Date(start).toISOString()} to now` });
  order.forEach((id, row) => {
    const y = row * ROW + 4;
    const items = lanes.get(id);
    root.append(svg("text", { class: "lane", x: 4, y: y + 13 }, id === "release" ? "release (app status)" : id.length > 46 ? `${id.slice(0, 45)}…` : id));
    items.forEach((t, i) => {
      const from = Date.parse(t.at), to = i + 1 < items.length ? Date.parse(items[i + 1].at) : end;
      const w = Math.max(2, x(to) - x(from));
      const seg = svg("rect", { class: `seg s-${t.to_state}`, x: x(from), y, width: w, height: ROW - 4, "data-state": t.to_state });
      seg.append(svg("title", {}, `${id}: ${t.to_state} from ${t.at} — ${t.reason}: ${t.message}`));
      root.append(seg);
      if (w > 70) root.append(svg("text", { class: "seg-label", x: x(from) + 4, y: y + 12 }, t.to_state));
    });
  });
  root.append(svg("text", { class: "axis", x: LABEL, y: height - 4 }, new Date(start).toISOString().slice(0, 19).replace("T", " ")));
  root.append(svg("text", { class: "axis", x: LABEL + W, y: height - 4, "text-anchor": "end" }, "now"));
  return el("div", { class: "graph" }, root);
}

// ---- the page ---------------------------------------------------------------------------------

function operationsByRevision(revisions, oplog) {
  const byRevision = new Map();
  for (const e of oplog) {
    if (!byRevision.has(e.revision)) byRevision.set(e.revision, []);
    byRevision.get(e.revision).push(e);
  }
  const list = (revisions.length ? revisions : [...byRevision.keys()].map((n) => ({ number: n }))).slice().reverse();
  return el("div", { id: "operations" }, ...list.map((r, i) => {
    const details = el("details", { "data-revision": r.number },
      el("summary", {}, el("h3", { text: `revision ${r.number}${r.outcome ? ` — ${r.outcome}` : ""}${r.started_at ? ` — ${when(r.started_at)}` : ""}` })),
      timeline(`log-${r.number}`, byRevision.get(r.number) || [], (e) => el("li", {},
        el("span", { class: "muted", text: when(e.at) }), " ",
        el("span", { class: e.level === "error" ? "Warning" : "", text: `[${e.level}] ${e.step}` }), " ",
        el("span", { class: "msg", text: e.message }))));
    if (i === 0) details.open = true;
    return details;
  }));
}

function skeleton(key, cluster) {
  view.key = key; view.layoutKey = null; view.layout = null; view.selected = null;
  const section = (id, title) => el("section", { id: `section-${id}` }, el("h2", { text: title }), el("div", { class: "slot" }));
  const back = cluster ? el("a", { id: "back", href: `/#${new URLSearchParams({ cluster })}`, text: `← releases of cluster ${cluster}` })
    : el("a", { id: "back", href: "/", text: "← all releases" });
  const page = el("div", { id: "release-page", "data-key": key },
    el("p", {}, back),
    el("div", { id: "release-head" }),
    el("div", { id: "release-actions-slot" }),
    el("div", { id: "release-tools" }),
    el("div", { class: "release-body" },
      el("div", { class: "release-main" },
        section("components", "Components"), section("graph", "Dependencies"), section("resources", "Other resources"),
        section("timeline", "Status timeline"), section("events", "Events"), section("history", "Status history"),
        section("operations", "Operation log")),
      el("aside", { id: "object-panel", hidden: "", "aria-live": "polite" })));
  document.getElementById("main").replaceChildren(page);
  return page;
}

function fill(id, ...nodes) {
  document.querySelector(`#section-${id} .slot`).replaceChildren(...nodes);
}

async function renderRelease(ns, name, cluster) {
  const q = cluster ? `?cluster=${encodeURIComponent(cluster)}` : "";
  const amp = cluster ? `&cluster=${encodeURIComponent(cluster)}` : "";
  const base = `/api/releases/${encodeURIComponent(ns)}/${encodeURIComponent(name)}`;
  const [detail, graph, events, history, oplog, revisions, clusters] = await Promise.all([
    api(base + q), api(`${base}/graph${q}`), api(`${base}/events${q}`),
    api(`${base}/history?limit=1000${amp}`), api(`${base}/log${q}`), api(`${base}/revisions${q}`),
    api("/api/clusters"),
    warmed, // the layout worker's first start (its script loading) is page load, not render
  ]);
  // data-render-ms: from here (data arrived, layout library loaded) to the page drawn.
  const started = performance.now();
  const laying = startLayout(graph);
  // A live refresh redraws the sections: the keyboard stays on the object it was on.
  const active = document.activeElement;
  const mark = active && active.closest("#release-page .release-main") ?
    ["ref", "node", "component", "resource"].find((k) => active.dataset[k]) : null;
  const focused = mark ? `[data-${mark}="${CSS.escape(active.dataset[mark])}"]` : null;
  const key = `${cluster}/${ns}/${name}`;
  let page = document.getElementById("release-page");
  if (!page || page.dataset.key !== key) page = skeleton(key, cluster);
  page.dataset.rendered = "false";
  view.detail = detail; view.graph = graph;
  const st = detail.status;
  const where = clusters.find((c) => c.name === cluster);
  document.getElementById("release-head").replaceChildren(
    (where && clusterBanner(where)) || "",
    el("div", { id: "release-status" },
    el("h1", {}, `${ns}/${name} `, badge(st.state)),
    el("p", { id: "release-cluster", "data-cluster": cluster }, "cluster ", el("strong", { text: clusterLabel(cluster) }),
      where ? el("span", { class: "muted", text: ` — ${where.reachable ? syncText(where) : awayWord(where)}` }) : null),
    el("p", { class: "summary" },
      el("span", { class: "msg", id: "release-message", text: st.message }),
      st.root_cause ? el("span", { class: "muted", text: ` — root cause: ${st.root_cause.text}` }) : null,
      st.since ? el("span", { class: "muted", text: ` — since ${when(st.since)}` }) : null),
    el("p", { class: "muted", id: "release-revision",
      text: `chart ${detail.chart} ${detail.chart_version}, revision ${detail.current_revision ?? "none"}, last operation ${detail.stored_status}` })));
  // Upgrade, roll back, uninstall: editor.js's (each asks for confirmation).
  document.getElementById("release-actions-slot").replaceChildren(releaseActions(ns, name, cluster, revisions));
  const kinds = new Set([...detail.components, ...detail.resources].map((o) => o.ref.kind));
  for (const c of detail.components) for (const p of c.pods) kinds.add(p.ref.kind);
  if (!document.getElementById("release-filters")) document.getElementById("release-tools").replaceChildren(toolbar([...kinds].sort()));
  fill("components", table("components", ["Component", "State", "Reason", "Since", "Root cause", "Message", "ReplicaSets, Jobs and pods"], detail.components.map(componentRow)));
  fill("resources", table("resources", ["Resource", "State", "Reason", "Since", "Root cause", "Message"], detail.resources.map(resourceRow)));
  fill("timeline", statusTimeline(history, Date.now()));
  fill("events", timeline("events", events, (e) => el("li", {},
    el("span", { class: "muted", text: when(e.last_seen) }), " ",
    el("span", { class: e.type === "Warning" ? "Warning" : "", text: `${e.type} ${e.reason}` }),
    " ", objButton(e.ref), `${e.count > 1 ? ` (×${e.count})` : ""}: `, el("span", { class: "msg", text: e.message }))));
  fill("history", timeline("history", history.slice(0, 200), (t) => el("li", {},
    el("span", { class: "muted", text: when(t.at) }), " ", t.ref.text, " ",
    t.from_state ? badge(t.from_state) : el("span", { class: "muted", text: "(new)" }), " → ", badge(t.to_state),
    " ", el("span", { class: "msg", text: `${t.reason}: ${t.message}` }))));
  const open = [...document.querySelectorAll("#operations details")].filter((d) => d.open).map((d) => d.dataset.revision);
  const ops = operationsByRevision(revisions, oplog);
  if (open.length) for (const d of ops.querySelectorAll("details")) d.open = open.includes(d.dataset.revision);
  fill("operations", ops);
  const drawn = await drawGraph(graph, laying);
  page.dataset.layoutMs = String(Math.round(performance.now() - started));
  fill("graph", drawn);
  applyFilters();
  focusObject();
  if (focused && document.activeElement === document.body) {
    const again = document.querySelector(`#release-page .release-main ${focused}`);
    if (again) again.focus();
  }
  page.dataset.renderMs = String(Math.round(performance.now() - started));
  page.dataset.rendered = "true";
  if (view.selected) fillPanel(false).catch(showError);
}
