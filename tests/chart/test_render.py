"""Rendering with the real Helm engine: objects, hooks, CRDs, NOTES, errors, and parity."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest
from click.testing import CliRunner

from helmguard.chart.render import RenderedChart, RenderRequest, render_chart
from helmguard.chart.source import ChartError
from helmguard.chart.values import ValuesOptions
from helmguard.cli import main

from .conftest import CHARTS


def render(chart: str, *sets: str, renderer: str = "sdk", **kwargs: object) -> RenderedChart:
    values = ValuesOptions(set_values=sets)
    request = RenderRequest(chart=str(CHARTS / chart), values=values, renderer=renderer)
    for key, value in kwargs.items():
        object.__setattr__(request, key, value)
    return render_chart(request)


def kinds_and_names(rendered: RenderedChart) -> list[tuple[str, str, str]]:
    return [(o.kind, o.namespace, o.name) for o in rendered.objects]


def test_webapp_objects_in_helm_order_with_namespaces() -> None:
    rendered = render("webapp", "extraNamespace=elsewhere", release="shop", namespace="prod")
    assert kinds_and_names(rendered) == [
        ("ServiceAccount", "prod", "shop-webapp"),
        ("Secret", "elsewhere", "shop-webapp-token"),
        ("ConfigMap", "prod", "shop-webapp"),
        ("ClusterRole", "", "shop-webapp-reader"),
        ("Service", "prod", "shop-webapp"),
        ("Deployment", "prod", "shop-webapp"),
        # Custom resources last, by kind; GlobalSetting's CRD in crds/ is cluster-scoped.
        ("GlobalSetting", "", "shop-webapp"),
        ("Widget", "prod", "shop-webapp"),
    ]
    assert rendered.release == "shop"
    assert rendered.namespace == "prod"
    assert (rendered.chart_name, rendered.chart_version, rendered.app_version) == (
        "webapp",
        "1.2.3",
        "4.5.6",
    )
    deployment = rendered.objects[5]
    assert deployment.source == "webapp/templates/deployment.yaml"
    assert deployment.spec["template"]["spec"]["serviceAccountName"] == "shop-webapp"


def test_comment_line_separator_splits_documents_like_helm() -> None:
    rendered = render("webapp")
    from_config = [(o.kind, o.name) for o in rendered.objects if o.source.endswith("config.yaml")]
    assert from_config == [
        ("Secret", "release-name-webapp-token"),
        ("ConfigMap", "release-name-webapp"),
    ]
    config_docs = [text for path, text in rendered.manifests if path.endswith("config.yaml")]
    assert config_docs[0].startswith("# this comment line is a document separator")
    # The comment-only document is printed, like `helm template` does, but is no object.
    assert config_docs[2].startswith("# a document holding only a comment")


def test_hooks_are_apart_with_events_weights_and_policies() -> None:
    rendered = render("webapp")
    hooks = {h.obj.name: h for h in rendered.hooks}
    assert set(hooks) == {
        "release-name-webapp-migrate",
        "release-name-webapp-init",
        "release-name-webapp-test",
    }
    migrate = hooks["release-name-webapp-migrate"]
    assert migrate.obj.kind == "Job"
    assert migrate.obj.namespace == "default"
    assert migrate.events == ("pre-install", "pre-upgrade")
    assert migrate.weight == -5
    assert migrate.delete_policies == ("before-hook-creation", "hook-succeeded")
    init = hooks["release-name-webapp-init"]
    assert (init.events, init.weight, init.delete_policies) == (("pre-install",), 0, ())
    test = hooks["release-name-webapp-test"]
    assert (test.events, test.weight, test.delete_policies) == (("test",), 3, ("hook-failed",))
    # Helm drops a document whose hook annotation names an unknown event.
    everything = [o.name for o in rendered.objects] + list(hooks)
    assert "release-name-webapp-ignored" not in everything
    assert not any("ignored" in text for _, text in rendered.manifests)
    # `helm template` order: regular objects, then hooks sorted by kind.
    assert [p for p, t in rendered.manifests[-3:]] == ["webapp/templates/hooks.yaml"] * 3
    assert [h.obj.kind for h in rendered.hooks] == ["Secret", "Pod", "Job"]


def test_crds_and_notes() -> None:
    rendered = render("webapp", release="shop", namespace="prod")
    assert [(c.kind, c.name, c.source) for c in rendered.crds] == [
        ("CustomResourceDefinition", "widgets.example.com", "webapp/crds/widgets.yaml"),
        ("CustomResourceDefinition", "globalsettings.example.com", "webapp/crds/widgets.yaml"),
    ]
    assert all(not c.namespace for c in rendered.crds)
    assert not any(o.kind == "CustomResourceDefinition" for o in rendered.objects)
    assert rendered.notes == "webapp 4.5.6 is installed as shop in prod.\n"
    assert not any(path.endswith("NOTES.txt") for path, _ in rendered.manifests)


def test_values_are_the_merged_values() -> None:
    rendered = render("webapp", "replicaCount=3")
    assert rendered.values["replicaCount"] == 3
    assert rendered.values["image"]["repository"] == "registry.example.com/webapp"


def test_subcharts_follow_conditions_and_tags() -> None:
    default = render("umbrella")
    assert [o.name for o in default.objects] == ["release-name-db", "release-name-app"]
    assert [c.name for c in default.crds] == ["backups.db.example.com"]
    assert default.values["db"]["port"] == 1000
    assert "cache" not in default.values
    # Subchart NOTES are not shown, as in Helm without --render-subchart-notes.
    assert default.notes == "umbrella notes for release-name\n"

    toggled = render("umbrella", "db.enabled=false", "tags.backend=true")
    assert [o.name for o in toggled.objects] == ["release-name-cache", "release-name-app"]
    assert toggled.crds == ()
    assert toggled.objects[1].body["data"]["dbEnabled"] == "false"

    # The first condition path that is set wins: metrics.enabled=false beats the global.
    metrics = render("umbrella", "global.metrics.enabled=true")
    assert "release-name-metrics" not in [o.name for o in metrics.objects]
    metrics_on = render("umbrella", "metrics.enabled=true")
    assert "release-name-metrics" in [o.name for o in metrics_on.objects]


def test_each_render_starts_from_a_fresh_chart() -> None:
    # Rendering mutates a loaded chart (disabled subcharts are removed from it);
    # a second render with the subchart enabled must still see it.
    assert "release-name-db" not in [o.name for o in render("umbrella", "db.enabled=false").objects]
    assert "release-name-db" in [o.name for o in render("umbrella").objects]


def test_capabilities_from_flags() -> None:
    rendered = render(
        "capabilities",
        kube_version="v1.29.4",
        api_versions=("example.com/v1", "policy/v1/PodDisruptionBudget"),
    )
    assert [o.kind for o in rendered.objects] == ["PodDisruptionBudget", "ConfigMap"]
    data = rendered.objects[1].body["data"]
    assert data["kubeVersion"] == "v1.29.4"
    assert data["hasWidgets"] == "true"
    assert data["hasWidgetKind"] == "false"
    bare = render("capabilities", kube_version="1.31.0")
    assert bare.objects[0].body["data"]["kubeVersion"] == "v1.31.0"
    assert bare.objects[0].body["data"]["hasWidgets"] == "false"
    assert [o.kind for o in bare.objects] == ["ConfigMap"]


def test_upgrade_flag() -> None:
    data = render("capabilities", is_upgrade=True).objects[0].body["data"]
    assert (data["isUpgrade"], data["isInstall"]) == ("true", "false")
    data = render("capabilities").objects[0].body["data"]
    assert (data["isUpgrade"], data["isInstall"], data["revision"]) == ("false", "true", "1")


def test_schema_violation_has_helms_message() -> None:
    with pytest.raises(ChartError) as exc:
        render("schema", "replicas=0")
    message = str(exc.value)
    assert "values don't meet the specifications of the schema" in message
    assert "at '/replicas': minimum: got 0, want 1" in message
    with pytest.raises(ChartError, match="got string, want integer"):
        render_chart(
            RenderRequest(
                chart=str(CHARTS / "schema"), values=ValuesOptions(set_string=("replicas=2",))
            )
        )


def test_template_errors_name_the_template() -> None:
    with pytest.raises(ChartError) as exc:
        render("broken", "mode=fail")
    assert "broken/templates/fails.yaml:2" in str(exc.value)
    assert "broken chart: mode=fail is not supported" in str(exc.value)
    with pytest.raises(ChartError) as exc:
        render("broken", "mode=nil")
    assert "broken/templates/fails.yaml:8" in str(exc.value)
    assert "nil pointer evaluating interface {}.name" in str(exc.value)


def test_invalid_yaml_output_names_template_and_line() -> None:
    with pytest.raises(ChartError) as exc:
        render("broken", "mode=badyaml")
    assert "broken/templates/yaml.yaml: invalid YAML at line 13" in str(exc.value)
    with pytest.raises(
        ChartError, match=r"yaml\.yaml: ConfigMap at line \d+ has no metadata\.name"
    ):
        render("broken", "mode=noname")


def test_charts_helm_refuses_to_render() -> None:
    with pytest.raises(ChartError, match="library chart"):
        render("library")
    with pytest.raises(ChartError, match="missing in charts/ directory: postgresql"):
        render("needsdep")
    with pytest.raises(ChartError, match="release name 'Not_Valid'"):
        render("webapp", release="Not_Valid")
    with pytest.raises(ChartError, match="unknown renderer"):
        render("webapp", renderer="kustomize")


# ---- the two backends agree -----------------------------------------------------------

PARITY_CASES = [
    ("webapp", ()),
    ("webapp", ("extraNamespace=other", "serviceAccount.create=false")),
    ("umbrella", ()),
    ("umbrella", ("db.enabled=false", "tags.backend=true", "metrics.enabled=true")),
    ("capabilities", ()),
    ("dump", ("list={a,b}",)),
]


@pytest.mark.parametrize(("chart", "sets"), PARITY_CASES)
def test_sdk_and_helm_binary_render_identically(
    helm_binary: Path, chart: str, sets: tuple[str, ...]
) -> None:
    caps = {
        "kube_version": "v1.33.1",
        "api_versions": ("example.com/v1", "policy/v1/PodDisruptionBudget"),
        "release": "parity",
        "namespace": "ns1",
    }
    sdk = render(chart, *sets, renderer="sdk", **caps)
    binary = render(chart, *sets, renderer="helm", **caps)
    assert [o.body for o in binary.objects] == [o.body for o in sdk.objects]
    assert [o.source for o in binary.objects] == [o.source for o in sdk.objects]
    assert binary.hooks == sdk.hooks
    # Helm v4 keeps a document's trailing newline where manifest.split_documents (Helm v3's
    # separator) drops it; the documents are otherwise the same text.
    assert [(p, t.rstrip()) for p, t in binary.manifests] == [
        (p, t.rstrip()) for p, t in sdk.manifests
    ]
    assert binary.crds == sdk.crds
    assert binary.notes == sdk.notes


@pytest.mark.parametrize("chart", ["webapp", "umbrella", "capabilities", "oddyaml"])
def test_cli_render_prints_what_helm_template_prints(helm_binary: Path, chart: str) -> None:
    args = [str(CHARTS / chart), "--kube-version", "1.33.0", "-n", "ns1", "--include-crds"]
    helm = subprocess.run(
        [str(helm_binary), "template", "release-name", *args],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    ours = CliRunner().invoke(main, ["render", *args])
    assert ours.exit_code == 0, ours.output
    # Same lines in the same order; only blank lines at document ends may differ (see above).
    assert [line for line in ours.output.splitlines() if line] == [
        line for line in helm.splitlines() if line
    ]


def test_helm_binary_reports_template_errors(helm_binary: Path) -> None:
    with pytest.raises(ChartError, match=r"helm template failed: .*broken/templates/fails\.yaml"):
        render("broken", "mode=fail", renderer="helm")


def test_helm_binary_from_environment(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("HELMGUARD_HELM", str(tmp_path / "no-helm"))
    with pytest.raises(ChartError, match=r"HELMGUARD_HELM=.*no-helm is not an executable file"):
        render("webapp", renderer="helm")


# ---- the command line --------------------------------------------------------------------


def test_cli_render_prints_sources_like_helm_template(tmp_path: Path) -> None:
    values = tmp_path / "v.yaml"
    values.write_text("replicaCount: 4\n")
    result = CliRunner().invoke(
        main,
        [
            "render",
            str(CHARTS / "webapp"),
            "--name",
            "shop",
            "-n",
            "prod",
            "-f",
            str(values),
            "--set",
            "config.greeting=hi",
            "--include-crds",
        ],
    )
    assert result.exit_code == 0, result.output
    assert result.output.startswith("---\n# Source: webapp/crds/widgets.yaml\n")
    assert "# Source: webapp/templates/deployment.yaml\n" in result.output
    assert "replicas: 4" in result.output
    assert 'greeting: "hi"' in result.output
    assert "# Source: webapp/templates/hooks.yaml\n" in result.output


def test_cli_render_api_versions_accept_commas() -> None:
    result = CliRunner().invoke(
        main,
        [
            "render",
            str(CHARTS / "capabilities"),
            "--kube-version",
            "1.30.0",
            "--api-versions",
            "example.com/v1,policy/v1/PodDisruptionBudget",
        ],
    )
    assert result.exit_code == 0, result.output
    assert 'hasWidgets: "true"' in result.output
    assert "kind: PodDisruptionBudget" in result.output


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["render", str(CHARTS / "broken"), "--set", "mode=fail"], "fails.yaml:2"),
        (["render", str(CHARTS / "schema"), "--set", "replicas=0"], "/replicas"),
        (["render", "/nonexistent/chart"], "no such chart directory"),
        (["render", str(CHARTS / "webapp"), "-f", "/nonexistent/values.yaml"], "cannot read"),
        (
            ["render", str(CHARTS / "broken"), "--set", "mode=nullkey"],
            "yaml.yaml: invalid YAML at line 7: unsupported map key of type: <nil>",
        ),
        (
            ["render", str(CHARTS / "broken"), "--set", "mode=inf"],
            "yaml.yaml: invalid YAML at line 7: json: unsupported value: +Inf",
        ),
        (
            ["render", str(CHARTS / "broken"), "--set", "mode=bomb"],
            "yaml.yaml: invalid YAML at line 2: document contains excessive aliasing",
        ),
        (
            ["check", str(CHARTS / "broken"), "--offline", "--set", "mode=badtag"],
            "yaml.yaml: invalid YAML at line 7: cannot decode !!str `many` as a !!int",
        ),
        (
            ["render", str(CHARTS / "badcrd")],
            "things.yaml: invalid YAML document separator at line 5: spec: {}",
        ),
    ],
)
def test_cli_render_errors_exit_2_without_traceback(args: list[str], message: str) -> None:
    result = CliRunner().invoke(main, args)
    assert result.exit_code == 2
    assert message in result.output
    assert "Traceback" not in result.output
    assert result.exception is None or isinstance(result.exception, SystemExit)


def test_the_helm_binary_renders_revision_1_only() -> None:
    """`helm template` cannot render an upgrade's revision: refused before anything runs."""
    with pytest.raises(ChartError, match="renders revision 3: use --renderer sdk"):
        render("capabilities", renderer="helm", revision=3, is_upgrade=True)
    with pytest.raises(ChartError, match="revisions start at 1"):
        render("capabilities", revision=0)
    data = render("capabilities", revision=7, is_upgrade=True).objects[0].body["data"]
    assert (data["revision"], data["isUpgrade"], data["isInstall"]) == ("7", "true", "false")


def test_enable_dns_with_a_chart_that_calls_lookup_is_refused_when_lookup_reads_a_cluster() -> None:
    """helm-python-sdk's cluster-aware engine ignores --enable-dns: rather than render a
    lookup that found nothing or a getHostByName that gave "", the deploy is refused."""
    deploy_charts = Path(__file__).parents[1] / "deploy" / "charts"
    looked_up = RenderRequest(
        chart=str(deploy_charts / "context"), release="r", enable_dns=True, lookup="{}"
    )
    with pytest.raises(ChartError, match="--enable-dns with a chart that calls lookup"):
        render_chart(looked_up)
    # A chart without lookup renders its names resolved, whether or not a cluster is given.
    dns = RenderRequest(chart=str(deploy_charts / "flagged"), release="r", enable_dns=True)
    for request in (dns, RenderRequest(**{**dns.__dict__, "lookup": "{}"})):
        data = [
            o.body["data"]
            for o in render_chart(request).objects
            if "host" in o.body.get("data", {})
        ]
        assert data == [{"port": "8080", "host": "127.0.0.1"}], data
