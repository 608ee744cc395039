// helmguard values editor (the Deploy page) and the release page's upgrade, rollback and
// uninstall buttons. Uses app.js's helpers (el, api, table, badge, when) and catalogue.js's
// jsonPost, deployHref and confirmInline; DOM calls only, never innerHTML.
"use strict";

const editor = { chart: "", defaults: "", schema: "", timer: null, seq: 0, badLine: null };
// The operation a release page button started, kept across the page's live re-renders.
const releaseOp = { key: "", op: null, pending: null, focused: "" };

// ---- following an operation --------------------------------------------------------------

const STEP_LABELS = { wave: "wave", gate: "gate", wait: "wait", apply: "apply", preflight: "check" };

function stepItem(s) {
  return el("li", { "data-step": s.step, class: s.level === "error" ? "Warning" : "" },
    el("span", { class: "muted", text: when(s.at) }), " ",
    el("strong", { text: `[${STEP_LABELS[s.step] || s.step}]` }), " ",
    el("span", { class: "msg", text: s.message }));
}

function operationView(op, id) {
  const done = op.state !== "running";
  const r = op.result;
  const verdict = !done ? el("p", { class: "muted", text: `${op.kind} running…` })
    : op.state === "error" ? el("p", { id: "verdict", class: "error", "data-outcome": "error", text: `${op.kind} failed: ${op.error}` })
    : el("p", { id: "verdict", "data-outcome": r.outcome, class: r.ok ? "ok" : "error" },
      `${op.kind} ${r.ok ? "succeeded" : "did not succeed"}: ${r.outcome}`, r.revision ? ` (revision ${r.revision})` : "",
      r.message ? el("span", { class: "msg", text: ` — ${r.message}` }) : null,
      r.root_cause ? el("span", { class: "muted", text: ` — root cause: ${r.root_cause}` }) : null);
  return el("div", { id, class: "operation", "data-state": op.state, "aria-live": "polite" },
    el("h3", { text: `${op.kind} ${op.release.namespace}/${op.release.name}` }), verdict,
    el("ol", { class: "timeline steps" }, ...op.steps.map(stepItem)));
}

// Poll the operation until it ends; `show(op)` after every look. Resolves with the last op.
// A look that fails because the server is busy or away (no answer, or a 5xx) is tried again
// at the next tick; any other refusal (401, the operation unknown) ends the follow with it.
async function follow(op, show) {
  for (;;) {
    show(op);
    if (op.state !== "running") return op;
    await new Promise((r) => setTimeout(r, 400));
    try {
      op = await api(`/api/operations/${encodeURIComponent(op.id)}`);
    } catch (err) {
      if (err instanceof Unauthorized || (err.status && err.status < 500)) throw err;
    }
  }
}

// ---- the values editor ---------------------------------------------------------------------

function gutter(text, badLine) {
  const lines = Math.max(1, text.split("\n").length);
  const nodes = [];
  for (let i = 1; i <= lines; i++) nodes.push(el("span", { "data-line": i, class: i === badLine ? "bad" : "" , text: i }));
  return nodes;
}

function valueText(v) {
  return v === null || v === undefined ? "" : typeof v === "string" ? v : JSON.stringify(v);
}

async function checkValues(values, panel) {
  const seq = ++editor.seq;
  const res = await jsonPost("/api/values/check", { values: values.value, defaults: editor.defaults, schema: editor.schema });
  if (seq !== editor.seq) return null; // a newer edit is being checked
  const line = res.yaml ? res.yaml.line : null;
  editor.badLine = line;
  panel.gutter.replaceChildren(...gutter(values.value, line));
  panel.yaml.replaceChildren(res.yaml
    ? el("span", { class: "error", "data-line": line ?? "", text: `YAML error${line ? ` at line ${line}` : ""}: ${res.yaml.message}` })
    : el("span", { class: "ok", text: "YAML ok" }));
  values.setAttribute("aria-invalid", res.yaml || res.schema_problems.length ? "true" : "false");
  panel.schema.replaceChildren(...(res.schema_problems.length
    ? [el("ul", { id: "schema-problems" }, ...res.schema_problems.map((p) => el("li", { "data-path": p.path, class: "error" },
      el("code", { text: p.path || "(root)" }), ": ", el("span", { class: "msg", text: p.message }))))]
    : editor.schema ? [el("span", { class: "ok", id: "schema-ok", text: "valid against values.schema.json" })] : []));
  panel.diff.replaceChildren(res.diff.length
    ? table("values-diff", ["Field", "Change", "Default", "Effective"], res.diff.map((c) => el("tr", { "data-path": c.path },
      el("td", {}, el("code", { text: c.path })), el("td", { text: c.change }),
      el("td", { class: "msg", text: valueText(c.default) }), el("td", { class: "msg", text: valueText(c.value) }))))
    : el("p", { class: "muted", text: "The effective values are the chart's defaults." }));
  return res;
}

async function loadChart(chart, panel, values) {
  editor.chart = chart;
  panel.info.replaceChildren(el("span", { class: "muted", text: "reading the chart…" }));
  try {
    const info = await api(`/api/charts/info?chart=${encodeURIComponent(chart)}`);
    editor.defaults = info.values;
    editor.schema = info.schema;
    panel.defaults.textContent = info.values || "(the chart has no values.yaml)";
    panel.info.replaceChildren(el("span", { id: "chart-loaded", text: `${info.name} ${info.version}${info.app_version ? ` (app ${info.app_version})` : ""}` }),
      info.schema ? el("span", { class: "muted", text: " — has values.schema.json" }) : null);
  } catch (err) {
    if (err instanceof Unauthorized) return showTokenForm();
    editor.defaults = editor.schema = "";
    panel.defaults.textContent = "";
    panel.info.replaceChildren(el("span", { class: "error", text: err.message }));
  }
  await checkValues(values, panel);
}

function findingsView(report, ns, release, cluster) {
  const rows = report.findings.map((f) => el("tr", { "data-code": f.code },
    el("td", { class: `sev-${f.severity}`, text: f.severity }), el("td", { text: f.code }),
    el("td", {}, el("a", { href: `${releaseHref({ namespace: ns, name: release, cluster })}&object=${encodeURIComponent(f.object.text)}`, text: f.object.text })),
    el("td", { class: "msg", text: f.path }), el("td", { class: "msg", text: f.message }),
    el("td", { class: "msg", text: f.predicted }), el("td", { class: "msg", text: f.fix })));
  return [
    el("p", { id: "check-summary", text: `${report.chart} ${report.chart_version}: ${report.objects} objects, ${report.references} references, ${report.findings.length} finding(s)` }),
    rows.length ? table("findings", ["Severity", "Code", "Object", "Field", "Problem", "Kubernetes will", "Fix"], rows) : el("p", { id: "no-findings", text: "No findings." }),
  ];
}

function deployControls(report, body, cluster, out) {
  if (!((state.info && state.info.deploy_clusters) || []).includes(cluster)) {
    return [el("p", { class: "muted", text: `Deploying from this page to ${cluster ? `cluster ${cluster}` : "the default cluster"} is not available on this server.` })];
  }
  const errors = report.findings.filter((f) => f.severity === "error").length;
  const force = el("input", { type: "checkbox", name: "force" });
  const go = el("button", { type: "button", id: "confirm-deploy", text: errors ? "Deploy anyway (force)" : "Deploy" });
  const status = el("p", { class: "muted" });
  go.addEventListener("click", async () => {
    if (errors && !force.checked) { status.textContent = "tick force to deploy despite errors"; return; }
    go.disabled = true;
    try {
      const op = await jsonPost(`/api/deploy${clusterQuery(cluster)}`, Object.assign({}, body, { force: force.checked }));
      const link = el("a", { href: releaseHref(op.release), text: "open the release page now" });
      const panel = el("div", {});
      out.replaceChildren(el("p", {}, link), panel);
      const last = await follow(op, (o) => panel.replaceChildren(operationView(o, "deploy-operation")));
      // Land on the release page once the verdict has been seen.
      setTimeout(() => { location.href = releaseHref(last.release); }, 1200);
    } catch (err) {
      if (err instanceof Unauthorized) return showTokenForm();
      go.disabled = false;
      status.textContent = err.message;
    }
  });
  return [el("p", {}, errors ? el("label", {}, force, " force") : null, " ", go), status];
}

async function pickFromCatalogue(repo, name, version, chartInput, panel, values) {
  panel.info.replaceChildren(el("span", { class: "muted", text: `downloading ${name} ${version} from ${repo}…` }));
  try {
    const base = `/api/repos/${encodeURIComponent(repo)}/charts/${encodeURIComponent(name)}`;
    const [info, versions] = await Promise.all([api(`${base}/versions/${encodeURIComponent(version)}`), api(base)]);
    chartInput.value = info.chart;
    await loadChart(info.chart, panel, values);
    // Another version of the same chart is one choice away (an upgrade to a newer one).
    const select = el("select", { id: "chart-version", "aria-label": `Version of ${repo}/${name}` },
      ...versions.map((v) => el("option", { value: v.version, text: `${v.version}${v.app_version ? ` (app ${v.app_version})` : ""}` })));
    select.value = version;
    select.addEventListener("change", () => pickFromCatalogue(repo, name, select.value, chartInput, panel, values));
    panel.info.prepend(el("span", { text: `${repo}/` }));
    panel.info.append(" ", el("label", {}, "version ", select));
  } catch (err) {
    if (err instanceof Unauthorized) return showTokenForm();
    panel.info.replaceChildren(el("span", { class: "error", text: err.message }));
  }
}

// An upgrade's chart: the release's chart at its version in the catalogue, when listed there.
async function catalogueMatch(chart, version) {
  const found = (await api(`/api/catalogue?q=${encodeURIComponent(chart)}`)).filter((c) => c.name === chart);
  for (const c of found) {
    const versions = await api(`/api/repos/${encodeURIComponent(c.repository)}/charts/${encodeURIComponent(chart)}`);
    if (versions.some((v) => v.version === version)) return [c.repository, version];
  }
  return found.length ? [found[0].repository, found[0].latest.version] : null;
}

function renderEditor(params) {
  const out = el("div", { id: "check-result" });
  const values = el("textarea", { name: "values", id: "values", spellcheck: "false", "aria-label": "Your values (YAML overrides)" });
  const panel = {
    info: el("p", { id: "chart-info", class: "muted" }),
    defaults: el("pre", { id: "defaults", class: "doc", tabindex: "0", "aria-label": "The chart's default values" }),
    gutter: el("div", { class: "gutter", "aria-hidden": "true" }),
    yaml: el("p", { id: "yaml-status" }),
    schema: el("div", { id: "schema-status" }),
    diff: el("div", { id: "diff" }),
  };
  const upgrade = params.get("upgrade") || "";
  const cut = upgrade.indexOf("/");
  const cluster = params.get("cluster") || "";
  const chartInput = el("input", { type: "text", name: "chart", required: "", value: params.get("chart") || "" });
  const load = el("button", { type: "button", id: "load-chart", text: "Load defaults" });
  load.addEventListener("click", () => loadChart(chartInput.value.trim(), panel, values));
  chartInput.addEventListener("change", () => loadChart(chartInput.value.trim(), panel, values));
  const form = el("form", { class: "deploy", id: "deploy-form" },
    el("p", {}, "Pick a chart in the ", el("a", { href: "/?view=catalogue", text: "catalogue" }), ", or name one here."),
    el("label", {}, "Chart (path under the server's chart directory, oci://…, or upload:…) ", chartInput, " ", load),
    panel.info,
    el("label", {}, "Release ", el("input", { type: "text", name: "release", value: cut > 0 ? upgrade.slice(cut + 1) : "release-name" })),
    el("label", {}, "Namespace ", el("input", { type: "text", name: "namespace", value: cut > 0 ? upgrade.slice(0, cut) : "default" })),
    el("div", { class: "panes" },
      el("section", {}, el("h3", { text: "Chart defaults" }), panel.defaults),
      el("section", {}, el("h3", {}, el("label", { for: "values", text: "Your values (YAML)" })),
        el("div", { class: "editor" }, panel.gutter, values), panel.yaml, panel.schema)),
    el("h3", { text: "Effective values against the defaults" }), panel.diff,
    el("button", { type: "submit", text: "Check" }));
  values.addEventListener("input", () => {
    clearTimeout(editor.timer);
    // Line numbers follow the text at once; the marks stay until the new check answers.
    panel.gutter.replaceChildren(...gutter(values.value, editor.badLine));
    editor.timer = setTimeout(() => checkValues(values, panel).catch(showDetailError(panel.yaml)), 250);
  });
  values.addEventListener("scroll", () => { panel.gutter.scrollTop = values.scrollTop; });
  form.addEventListener("submit", async (ev) => {
    ev.preventDefault();
    const f = form.elements;
    const body = { chart: f.chart.value.trim(), release: f.release.value.trim(), namespace: f.namespace.value.trim(), values: f.values.value };
    out.replaceChildren(el("p", { class: "muted", text: "checking…" }));
    try {
      const report = await jsonPost(`/api/check${clusterQuery(cluster)}`, body);
      out.replaceChildren(...findingsView(report, body.namespace, body.release, cluster), ...deployControls(report, body, cluster, out));
    } catch (err) {
      if (err instanceof Unauthorized) return showTokenForm();
      out.replaceChildren(el("p", { class: "error", text: err.message }));
    }
  });
  editor.defaults = editor.schema = "";
  editor.badLine = null;
  panel.gutter.replaceChildren(...gutter("", null));
  const title = (cut > 0 ? `Upgrade ${upgrade}` : "Deploy a chart") + (cluster ? ` on cluster ${cluster}` : "");
  document.getElementById("main").replaceChildren(el("h1", { text: title }), form, out);
  const start = async () => {
    if (cut > 0) {
      const [ns, name] = [upgrade.slice(0, cut), upgrade.slice(cut + 1)];
      const base = `/api/releases/${encodeURIComponent(ns)}/${encodeURIComponent(name)}`;
      const q = clusterQuery(cluster);
      const [previous, detail] = await Promise.all([api(`${base}/values${q}`), api(`${base}${q}`)]);
      values.value = previous.values;
      panel.yaml.textContent = `values of revision ${previous.revision} loaded`;
      const match = params.get("repo") ? null : await catalogueMatch(detail.chart, detail.chart_version);
      if (match) return pickFromCatalogue(match[0], detail.chart, match[1], chartInput, panel, values);
    }
    if (params.get("repo") && params.get("name") && params.get("version")) {
      return pickFromCatalogue(params.get("repo"), params.get("name"), params.get("version"), chartInput, panel, values);
    }
    if (chartInput.value) return loadChart(chartInput.value, panel, values);
    return checkValues(values, panel);
  };
  start().catch(showDetailError(panel.info));
}

// ---- release page actions ------------------------------------------------------------------

// A finding's link names its object (`&object=`): once the page is drawn, that row is
// marked and focused (focused and scrolled to once per visit; a live re-render marks the
// new row again, and renderRelease keeps the keyboard on the row it was on).
function focusObject() {
  const wanted = new URLSearchParams(location.search).get("object");
  if (!wanted) return;
  const row = [...document.querySelectorAll("tr[data-component], tr[data-resource]")]
    .find((tr) => tr.dataset.component === wanted || tr.dataset.resource === wanted);
  if (!row) return;
  const first = releaseOp.focused !== location.search;
  releaseOp.focused = location.search;
  row.classList.add("target");
  row.setAttribute("tabindex", "-1");
  if (!first) return;
  row.focus();
  row.scrollIntoView({ block: "center" });
}

// The view of the operation a button of this release's page started (the holder `follow`
// updates), or null when none was.
function releaseOperationView([ns, name]) {
  if (releaseOp.key !== `${ns}/${name}` || !releaseOp.op) return null;
  return el("div", { id: "action-operation" }, operationView(releaseOp.op, "release-operation"));
}

function releaseActions(ns, name, cluster, revisions) {
  const key = `${ns}/${name}`;
  const where = el("span", { id: "action-confirm" });
  const box = el("div", { id: "release-actions", class: "actions" });
  const served = (state.info && state.info.deploy_clusters) || [];
  if (!served.length) return box;
  // Offered only where the deploy routes reach: never on a cluster this server does not serve.
  if (!served.includes(cluster)) {
    box.append(el("p", { class: "muted", id: "actions-elsewhere",
      text: `Upgrade, roll back and uninstall are not offered: this server does not deploy to ${cluster ? `cluster ${cluster}` : "the default cluster"}.` }));
    return box;
  }
  const runAction = (path, body, after) => async () => {
    try {
      const op = await jsonPost(`/api/releases/${encodeURIComponent(ns)}/${encodeURIComponent(name)}/${path}${clusterQuery(cluster)}`, body);
      releaseOp.key = key;
      where.replaceChildren();
      const last = await follow(op, (o) => {
        releaseOp.op = o;
        const holder = document.getElementById("action-operation");
        if (holder) holder.replaceChildren(operationView(o, "release-operation"));
      });
      if (after) after(last);
    } catch (err) {
      if (err instanceof Unauthorized) return showTokenForm();
      where.replaceChildren(el("span", { class: "error", id: "action-error", text: `${path}: ${err.message}` }));
    }
  };
  const upgrade = el("a", { class: "button", id: "upgrade", href: deployHref(cluster ? { upgrade: key, cluster } : { upgrade: key }), text: "Upgrade…" });
  const current = revisions.length ? revisions[revisions.length - 1].number : null;
  const choices = revisions.filter((r) => r.number !== current).slice().reverse();
  const select = el("select", { id: "rollback-revision", "aria-label": "Revision to roll back to" },
    ...choices.map((r) => el("option", { value: r.number, text: `revision ${r.number}${r.outcome ? ` (${r.outcome})` : ""}` })));
  const rollback = el("button", { type: "button", id: "rollback", text: "Roll back", disabled: choices.length ? null : "" });
  // A question being asked survives the page's live re-renders.
  const ask = (question, action) => {
    releaseOp.pending = { key, question, action };
    confirmInline(where, question, async () => { releaseOp.pending = null; await action(); }, () => { releaseOp.pending = null; });
  };
  rollback.addEventListener("click", () => ask(`Roll ${key} back to revision ${select.value}?`,
    runAction("rollback", { revision: Number(select.value) }, () => scheduleRefresh())));
  const uninstall = el("button", { type: "button", id: "uninstall", class: "danger", text: "Uninstall" });
  uninstall.addEventListener("click", () => ask(`Uninstall ${key}? Every object of the release is deleted.`,
    runAction("uninstall", {}, (last) => { if (last.state === "done" && last.result.ok) setTimeout(() => { location.href = "/"; }, 1200); })));
  const holder = releaseOperationView([ns, name]) || el("div", { id: "action-operation" });
  if (releaseOp.pending && releaseOp.pending.key === key) {
    const { question, action } = releaseOp.pending;
    queueMicrotask(() => ask(question, action));
  }
  box.append(upgrade, " ", el("label", {}, "Roll back to ", select), " ", rollback, " ", uninstall, " ", where, holder);
  return box;
}
