// helmguard dashboard: the release list as an overview (counts per state, filters by
// namespace, cluster and state, sort by "since", the root cause in one line). Helpers
// (el, badge, when, api) are app.js's; DOM calls only, never innerHTML.
"use strict";

const STATES = ["Failed", "Blocked", "Missing", "Unknown", "Terminating", "Progressing", "Ready"];
// cluster: null shows every cluster, "" the default one. All of it is kept in the URL
// fragment (#cluster=east&state=Failed), so a link shows the same list.
const listFilter = { namespace: "", cluster: null, state: "", sort: "since-desc" };
const ALL_CLUSTERS = "*"; // the cluster select's "all" (no cluster can be named that)

function readListFilter() {
  const q = new URLSearchParams(location.hash.slice(1));
  listFilter.namespace = q.get("namespace") || "";
  listFilter.cluster = q.has("cluster") ? q.get("cluster") : null;
  listFilter.state = STATES.includes(q.get("state")) ? q.get("state") : "";
  listFilter.sort = q.get("sort") || "since-desc";
}

function writeListFilter() {
  const q = new URLSearchParams();
  if (listFilter.namespace) q.set("namespace", listFilter.namespace);
  if (listFilter.cluster !== null) q.set("cluster", listFilter.cluster);
  if (listFilter.state) q.set("state", listFilter.state);
  if (listFilter.sort !== "since-desc") q.set("sort", listFilter.sort);
  const hash = q.toString();
  history.replaceState(null, "", location.pathname + location.search + (hash ? `#${hash}` : ""));
}

function setListFilter(changes) {
  Object.assign(listFilter, changes);
  writeListFilter();
  restartStream();
  renderList().catch(showError);
}

function sinceOf(r) { return r.since || r.updated_at || ""; }

function sortReleases(items, how) {
  const key = (r) => `${r.release.cluster}/${r.release.namespace}/${r.release.name}`;
  const sorted = items.slice();
  if (how === "name") sorted.sort((a, b) => key(a).localeCompare(key(b)));
  else {
    const dir = how === "since-asc" ? 1 : -1;
    sorted.sort((a, b) => dir * sinceOf(a).localeCompare(sinceOf(b)) || key(a).localeCompare(key(b)));
  }
  return sorted;
}

function select(id, label, options, value, onchange) {
  const s = el("select", { id, name: id, onchange: (ev) => onchange(ev.target.value) },
    ...options.map(([v, text]) => el("option", { value: v, text })));
  s.value = value;
  return el("label", { class: "filter" }, `${label} `, s);
}

function listControls(releases, clusters) {
  const namespaces = [...new Set(releases.map((r) => r.release.namespace))].sort();
  const rerender = (field) => (v) => setListFilter({ [field]: v });
  return el("div", { id: "list-controls", class: "toolbar" },
    select("filter-namespace", "Namespace", [["", "all"], ...namespaces.map((n) => [n, n])], listFilter.namespace, rerender("namespace")),
    select("filter-cluster", "Cluster", [[ALL_CLUSTERS, "all"], ...clusters.map((c) => [c.name, c.label])],
      listFilter.cluster === null ? ALL_CLUSTERS : listFilter.cluster,
      (v) => setListFilter({ cluster: v === ALL_CLUSTERS ? null : v })),
    select("filter-state", "State", [["", "all"], ...STATES.map((s) => [s, s])], listFilter.state, rerender("state")),
    select("sort", "Sort by", [["since-desc", "since (newest first)"], ["since-asc", "since (oldest first)"], ["name", "name"]], listFilter.sort, rerender("sort")));
}

function stateCounts(releases) {
  const counts = new Map(STATES.map((s) => [s, 0]));
  for (const r of releases) counts.set(r.state, (counts.get(r.state) || 0) + 1);
  return el("div", { id: "state-counts", class: "counts", role: "group", "aria-label": "releases per state" },
    ...STATES.filter((s) => counts.get(s)).map((s) => el("button", {
      type: "button", class: `count${listFilter.state === s ? " active" : ""}`, "data-state": s,
      "aria-pressed": listFilter.state === s ? "true" : "false",
      onclick: () => setListFilter({ state: listFilter.state === s ? "" : s }),
    }, badge(s), el("span", { class: "n", text: counts.get(s) }))));
}

// One button per cluster: its releases, its sync, unreachable in red; a click filters by it.
function clusterStrip(clusters) {
  return el("div", { id: "clusters", class: "counts", role: "group", "aria-label": "clusters" },
    ...clusters.map((c) => el("button", {
      type: "button", class: `count cluster${listFilter.cluster === c.name ? " active" : ""}`,
      "data-cluster": c.name, "data-reachable": c.reachable ? "true" : "false",
      "aria-pressed": listFilter.cluster === c.name ? "true" : "false",
      title: c.reachable ? syncText(c) : c.unreachable.message,
      onclick: () => setListFilter({ cluster: listFilter.cluster === c.name ? null : c.name }),
    }, el("strong", { text: c.label }), el("span", { class: "n", text: c.releases }),
    c.reachable ? el("span", { class: "muted sync", text: syncText(c) }) : el("span", { class: "badge unreachable", text: awayWord(c) }))));
}

function clusterCell(r, byName) {
  const c = byName.get(r.release.cluster);
  return el("td", { class: "cluster", "data-cluster": r.release.cluster },
    clusterLabel(r.release.cluster),
    c && !c.reachable ? el("span", {}, " ", el("span", { class: "badge unreachable", title: c.unreachable.message, text: awayWord(c) })) : null);
}

async function renderList() {
  const filtered = listFilter.cluster === null ? "" : `?cluster=${encodeURIComponent(listFilter.cluster)}`;
  const [releases, clusters] = await Promise.all([api(`/api/releases${filtered}`), api("/api/clusters")]);
  const byName = new Map(clusters.map((c) => [c.name, c]));
  const shown = sortReleases(releases.filter((r) =>
    (!listFilter.namespace || r.release.namespace === listFilter.namespace) &&
    (!listFilter.state || r.state === listFilter.state)), listFilter.sort);
  const rows = shown.map((r) => {
    const cause = r.summary || "all resources ready";
    return el("tr", { "data-release": `${r.release.namespace}/${r.release.name}`, "data-cluster": r.release.cluster, "data-state": r.state },
      el("td", {}, el("a", { href: releaseHref(r.release), text: `${r.release.namespace}/${r.release.name}` })),
      clusterCell(r, byName),
      el("td", {}, badge(r.state)),
      el("td", { class: "msg oneline", title: cause, text: cause }),
      el("td", { text: `${r.chart} ${r.chart_version}` }),
      el("td", { text: r.current_revision ?? "" }),
      el("td", { class: "muted since", "data-since": sinceOf(r), text: when(sinceOf(r)) }));
  });
  // Argo CD shows every application's destination cluster: so does the list, always.
  const tableEl = el("table", { id: "releases" },
    el("thead", {}, el("tr", {}, ...["Release", "Cluster", "State", "Root cause", "Chart", "Revision", "Since"].map((h) => el("th", { text: h })))),
    el("tbody", {}, ...rows));
  const where = listFilter.cluster === null ? "" : ` on cluster ${clusterLabel(listFilter.cluster)}`;
  const note = releases.length
    ? el("p", { class: "muted", id: "list-shown", text: `${shown.length} of ${releases.length} release(s)${where} shown` })
    : el("p", { class: "muted", id: "list-shown", text: `No release recorded${where} yet.` });
  const banners = clusters.filter((c) => listFilter.cluster === null || listFilter.cluster === c.name).map(clusterBanner).filter(Boolean);
  const focused = document.activeElement && document.activeElement.id;
  document.getElementById("main").replaceChildren(el("h1", { text: "Releases" }), ...banners, clusterStrip(clusters),
    stateCounts(releases), listControls(releases, clusters), tableEl, note);
  // Live refreshes redraw the page: keep the keyboard where it was.
  if (focused && document.getElementById(focused)) document.getElementById(focused).focus();
}
