// helmguard dashboard: the release list as an overview (counts per state, filters by
// namespace, cluster and state, sort by "since", the root cause in one line). Helpers
// (el, badge, when, api) are app.js's; DOM calls only, never innerHTML.
"use strict";

const STATES = ["Failed", "Blocked", "Missing", "Unknown", "Terminating", "Progressing", "Ready"];
const listFilter = { namespace: "", cluster: "", state: "", sort: "since-desc" };

function releaseHref(r) {
  return `/?release=${encodeURIComponent(r.release.namespace)}/${encodeURIComponent(r.release.name)}` +
    (r.release.cluster ? `&cluster=${encodeURIComponent(r.release.cluster)}` : "");
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

function listControls(releases) {
  const namespaces = [...new Set(releases.map((r) => r.release.namespace))].sort();
  const clusters = [...new Set(releases.map((r) => r.release.cluster))].sort();
  const rerender = (field) => (v) => { listFilter[field] = v; renderList().catch(showError); };
  return el("div", { id: "list-controls", class: "toolbar" },
    select("filter-namespace", "Namespace", [["", "all"], ...namespaces.map((n) => [n, n])], listFilter.namespace, rerender("namespace")),
    // One cluster today ("" is serve's own); the filter is there for when there are more.
    select("filter-cluster", "Cluster", [["", "all"], ...clusters.filter((c) => c).map((c) => [c, c])], listFilter.cluster, rerender("cluster")),
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
      onclick: () => { listFilter.state = listFilter.state === s ? "" : s; renderList().catch(showError); },
    }, badge(s), el("span", { class: "n", text: counts.get(s) }))));
}

async function renderList() {
  const releases = await api("/api/releases");
  const shown = sortReleases(releases.filter((r) =>
    (!listFilter.namespace || r.release.namespace === listFilter.namespace) &&
    (!listFilter.cluster || r.release.cluster === listFilter.cluster) &&
    (!listFilter.state || r.state === listFilter.state)), listFilter.sort);
  const rows = shown.map((r) => {
    const cause = r.summary || "all resources ready";
    return el("tr", { "data-release": `${r.release.namespace}/${r.release.name}`, "data-state": r.state },
      el("td", {}, el("a", { href: releaseHref(r), text: `${r.release.namespace}/${r.release.name}` })),
      el("td", { class: "cluster", text: r.release.cluster || "(this cluster)" }),
      el("td", {}, badge(r.state)),
      el("td", { class: "msg oneline", title: cause, text: cause }),
      el("td", { text: `${r.chart} ${r.chart_version}` }),
      el("td", { text: r.current_revision ?? "" }),
      el("td", { class: "muted since", "data-since": sinceOf(r), text: when(sinceOf(r)) }));
  });
  const tableEl = el("table", { id: "releases" },
    el("thead", {}, el("tr", {}, ...["Release", "Cluster", "State", "Root cause", "Chart", "Revision", "Since"].map((h) => el("th", { text: h })))),
    el("tbody", {}, ...rows));
  const note = releases.length
    ? el("p", { class: "muted", id: "list-shown", text: `${shown.length} of ${releases.length} release(s) shown` })
    : el("p", { class: "muted", text: "No release recorded yet." });
  const focused = document.activeElement && document.activeElement.id;
  document.getElementById("main").replaceChildren(el("h1", { text: "Releases" }), stateCounts(releases), listControls(releases), tableEl, note);
  // Live refreshes redraw the page: keep the keyboard where it was.
  if (focused && document.getElementById(focused)) document.getElementById(focused).focus();
}
