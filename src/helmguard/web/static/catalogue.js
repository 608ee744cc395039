// helmguard chart catalogue: repositories, search, versions, README and defaults, uploads,
// local charts. Uses app.js's helpers (el, api, table, when); DOM calls only, never innerHTML.
"use strict";

const catalogue = { query: "", picked: null };

function jsonPost(path, body, method = "POST") {
  return api(path, { method, headers: { "Content-Type": "application/json" }, body: JSON.stringify(body) });
}

function deployHref(params) {
  return "/?" + new URLSearchParams(Object.assign({ view: "deploy" }, params)).toString();
}

function repoRow(r, refresh) {
  const status = el("span", { class: "muted" });
  const update = el("button", { type: "button", text: "Update", "aria-label": `Update repository ${r.name}` });
  update.addEventListener("click", async () => {
    status.textContent = "reading the index…";
    try { await api(`/api/repos/${encodeURIComponent(r.name)}/update`, { method: "POST" }); refresh(); }
    catch (err) { status.textContent = err.message; }
  });
  const remove = el("button", { type: "button", text: "Remove", "aria-label": `Remove repository ${r.name}` });
  remove.addEventListener("click", () => confirmInline(status, `Remove repository ${r.name} and its stored credentials?`, async () => {
    await api(`/api/repos/${encodeURIComponent(r.name)}`, { method: "DELETE" });
    refresh();
  }));
  return el("tr", { "data-repo": r.name },
    el("td", { text: r.name }), el("td", { class: "msg", text: r.url }), el("td", { text: r.kind }),
    el("td", { text: r.auth }), el("td", { text: r.charts }),
    el("td", { class: "muted", text: r.updated_at ? when(r.updated_at) : "never" }),
    el("td", {}, update, " ", remove, " ", status));
}

// An inline "are you sure" with a confirm and a cancel button; `action` runs on confirm.
function confirmInline(where, question, action, onCancel) {
  const yes = el("button", { type: "button", class: "confirm", id: "confirm-action", text: "Confirm" });
  const no = el("button", { type: "button", text: "Cancel" });
  const box = el("span", { class: "confirm-box", role: "alertdialog", "aria-label": question }, question, " ", yes, " ", no);
  no.addEventListener("click", () => { where.replaceChildren(); if (onCancel) onCancel(); });
  yes.addEventListener("click", async () => {
    where.replaceChildren(el("span", { class: "muted", text: "working…" }));
    try { await action(); } catch (err) {
      if (err instanceof Unauthorized) return showTokenForm();
      where.replaceChildren(el("span", { class: "error", text: err.message }));
    }
  });
  where.replaceChildren(box);
  yes.focus();
}

function repoForm(refresh) {
  const out = el("p", { class: "muted", id: "repo-form-result" });
  const form = el("form", { class: "stacked", id: "repo-form" },
    el("label", {}, "Name ", el("input", { type: "text", name: "name", required: "", autocomplete: "off" })),
    el("label", {}, "URL (https://… with an index.yaml, or oci://host/path) ", el("input", { type: "text", name: "url", required: "" })),
    el("label", {}, "User name (basic auth) ", el("input", { type: "text", name: "username", autocomplete: "off" })),
    el("label", {}, "Password ", el("input", { type: "password", name: "password", autocomplete: "new-password" })),
    el("label", {}, "Bearer token ", el("input", { type: "password", name: "token", autocomplete: "off" })),
    el("label", {}, "CA file on the server ", el("input", { type: "text", name: "ca_file" })),
    el("label", {}, el("input", { type: "checkbox", name: "insecure" }), " skip TLS verification (test servers only)"),
    el("button", { type: "submit", text: "Add repository" }), out);
  form.addEventListener("submit", async (ev) => {
    ev.preventDefault();
    const f = form.elements;
    out.textContent = "adding and reading the index…";
    try {
      await jsonPost("/api/repos", {
        name: f.name.value.trim(), url: f.url.value.trim(), username: f.username.value.trim(),
        password: f.password.value, token: f.token.value, ca_file: f.ca_file.value.trim(),
        insecure_skip_tls_verify: f.insecure.checked,
      });
      form.reset();
      refresh();
    } catch (err) {
      if (err instanceof Unauthorized) return showTokenForm();
      out.replaceChildren(el("span", { class: "error", text: err.message }));
    }
  });
  return el("details", { id: "add-repo" }, el("summary", { text: "Add a repository" }), form);
}

function chartRow(c, detail) {
  const show = el("button", { type: "button", text: "Versions", "aria-label": `Versions of ${c.repository}/${c.name}` });
  show.addEventListener("click", () => showVersions(c.repository, c.name, detail).catch(showDetailError(detail)));
  return el("tr", { "data-chart": `${c.repository}/${c.name}` },
    el("td", { text: c.name }), el("td", { text: c.repository }), el("td", { text: c.latest.version }),
    el("td", { text: c.latest.app_version }), el("td", { class: "msg", text: c.latest.description }),
    el("td", { text: c.latest.keywords.join(", ") }), el("td", {}, show));
}

function showDetailError(detail) {
  return (err) => {
    if (err instanceof Unauthorized) return showTokenForm();
    detail.replaceChildren(el("p", { class: "error", text: err.message }));
  };
}

async function showVersions(repo, chart, detail) {
  const versions = await api(`/api/repos/${encodeURIComponent(repo)}/charts/${encodeURIComponent(chart)}`);
  const view = el("div", { id: "version-detail" });
  const rows = versions.map((v) => {
    const pick = el("button", { type: "button", text: "Show", "aria-label": `Show ${chart} ${v.version}` });
    pick.addEventListener("click", () => showVersion(repo, chart, v.version, view).catch(showDetailError(view)));
    return el("tr", { "data-version": v.version },
      el("td", { text: v.version }), el("td", { text: v.app_version }),
      el("td", { class: "muted", text: v.created }), el("td", { text: v.deprecated ? "deprecated" : "" }), el("td", {}, pick));
  });
  detail.replaceChildren(el("h2", { text: `${repo}/${chart}` }),
    table("versions", ["Version", "App version", "Created", "", ""], rows), view);
}

async function showVersion(repo, chart, version, view) {
  view.replaceChildren(el("p", { class: "muted", text: `downloading ${chart} ${version}…` }));
  const info = await api(`/api/repos/${encodeURIComponent(repo)}/charts/${encodeURIComponent(chart)}/versions/${encodeURIComponent(version)}`);
  const deploy = el("a", { id: "deploy-version", class: "button", href: deployHref({ repo, name: chart, version }), text: `Deploy ${chart} ${version}` });
  view.replaceChildren(
    el("h3", { text: `${info.name} ${info.version}${info.app_version ? ` (app ${info.app_version})` : ""}` }),
    el("p", { class: "msg", text: info.description }), el("p", {}, deploy),
    el("div", { class: "panes" },
      el("section", {}, el("h4", { text: "README" }), el("pre", { id: "chart-readme", class: "doc", text: info.readme || "(no README)" })),
      el("section", {}, el("h4", { text: "Default values (values.yaml)" }), el("pre", { id: "chart-values", class: "doc", text: info.values || "(none)" }),
        el("h4", { text: "values.schema.json" }), el("pre", { id: "chart-schema", class: "doc", text: info.schema || "(none)" }))));
}

function uploadForm() {
  const out = el("p", { class: "muted", id: "upload-result" });
  const file = el("input", { type: "file", id: "upload-file", accept: ".tgz,application/gzip" });
  const form = el("form", { id: "upload-form" }, el("label", {}, "Chart archive (.tgz) ", file), " ",
    el("button", { type: "submit", text: "Upload" }), out);
  form.addEventListener("submit", async (ev) => {
    ev.preventDefault();
    if (!file.files.length) { out.textContent = "choose a .tgz file first"; return; }
    out.textContent = "uploading…";
    try {
      const res = await api("/api/charts", { method: "PUT", headers: { "Content-Type": "application/gzip" }, body: file.files[0] });
      out.replaceChildren("uploaded as ", el("code", { text: res.chart }), " ", el("a", { href: deployHref({ chart: res.chart }), text: "deploy it" }));
    } catch (err) {
      if (err instanceof Unauthorized) return showTokenForm();
      out.replaceChildren(el("span", { class: "error", text: err.message }));
    }
  });
  return form;
}

async function renderCatalogue() {
  const main = document.getElementById("main");
  const refresh = () => renderCatalogue().catch(showError);
  const [repositories, local] = await Promise.all([api("/api/repos"), api("/api/charts/local")]);
  const detail = el("div", { id: "chart-detail" });
  const results = el("div", { id: "chart-results" });
  const search = el("input", { type: "search", id: "catalogue-search", value: catalogue.query, "aria-label": "Search charts by name or keyword" });
  const runSearch = async () => {
    catalogue.query = search.value;
    const charts = await api(`/api/catalogue?q=${encodeURIComponent(search.value.trim())}`);
    results.replaceChildren(charts.length
      ? table("charts", ["Chart", "Repository", "Latest", "App version", "Description", "Keywords", ""], charts.map((c) => chartRow(c, detail)))
      : el("p", { class: "muted", text: repositories.length ? "No chart matches." : "No repository registered yet." }));
  };
  let timer = null;
  search.addEventListener("input", () => { clearTimeout(timer); timer = setTimeout(() => runSearch().catch(showDetailError(results)), 200); });
  const repoRows = repositories.map((r) => repoRow(r, refresh));
  const localRows = local.map((c) => el("tr", { "data-local": c.chart },
    el("td", { text: c.name }), el("td", { text: c.version }), el("td", { class: "msg", text: c.chart }),
    el("td", {}, el("a", { href: deployHref({ chart: c.chart }), text: "Deploy" }))));
  main.replaceChildren(
    el("h1", { text: "Chart catalogue" }),
    el("h2", { text: "Repositories" }),
    repoRows.length ? table("repos", ["Name", "URL", "Kind", "Credentials", "Charts", "Index read", ""], repoRows) : el("p", { class: "muted", text: "No repository registered." }),
    repoForm(refresh),
    el("h2", { text: "Charts" }),
    el("label", { class: "search" }, "Search charts ", search), results, detail,
    el("h2", { text: "Upload a chart archive" }), uploadForm(),
    el("h2", { text: "Local charts" }),
    localRows.length ? table("local-charts", ["Chart", "Version", "Path", ""], localRows) : el("p", { class: "muted", text: "No chart in the server's chart directories." }));
  await runSearch();
}
