"""`helmguard plan`, `deploy`, `install`, `upgrade` and `test`: thin shells over
`helmguard.deploy` (`rollback` and `uninstall` share their runner from cli/rollback.py and
cli/uninstall.py).

One file past 400 lines: the commands share their flags, the live display of the
operation log (`_Display`) and the mapping of outcomes to exit codes.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import gc
import importlib
import json
import os
import re
import sys
from collections.abc import Awaitable, Callable, Iterator, Sequence
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any, TypeVar

import click

from helmguard.cli.chart_options import (
    chart_options,
    release_chart_options,
    request_from_options,
)
from helmguard.cli.duration import DURATION
from helmguard.cli.options import db_option, target_options
from helmguard.cli.wait_flag import read_wait, wait_option
from helmguard.deploy.oplog import Step

if TYPE_CHECKING:
    from rich.console import Console

    from helmguard.deploy import Configuration, DeployOptions, LogRecord, Result
    from helmguard.store import Store

F = TypeVar("F", bound=Callable[..., Any])

# Steps shown as a line in the live display; per-object steps only with -v.
_HEADLINE_STEPS = frozenset(
    {
        Step.PREFLIGHT_SKIPPED,
        Step.PREFLIGHT_FINDING,
        Step.PREFLIGHT_PASSED,
        Step.LOCK_ACQUIRED,
        Step.PLAN,
        Step.PLAN_CYCLE,
        Step.GATE_PASSED,
        Step.WAIT_LOAD_BALANCER,
        Step.WAVE_APPLIED,
        Step.OBJECT_FAILED,
        Step.PRUNE,
        Step.CLEANUP,
        Step.HOOK_APPLIED,
        Step.HOOK_SUCCEEDED,
        Step.HOOK_FAILED,
        Step.HOOK_DELETED,
        Step.WAIT_START,
        Step.WAIT_READY,
        Step.ATOMIC_START,
        Step.ATOMIC_DONE,
        Step.INTERRUPTED,
        Step.RECORD_FAILED,
        Step.REVISION_STALE,
        Step.HISTORY_FORGOTTEN,
        Step.ROLLBACK_TARGET,
    }
)
_STYLE = {"error": "bold red", "warning": "yellow", "info": ""}


def _cluster_options(f: F) -> F:
    options = (
        click.option(
            "--timeout",
            type=DURATION,
            default="5m0s",
            show_default=True,
            help="Time for the whole operation, retries of transient errors included "
            "(a Go duration: 300s, 5m, 1h2m; or seconds).",
        ),
        db_option,
        click.option("--no-store", is_flag=True, help="Do not record the operation in the store."),
        click.option(
            "-o",
            "--output",
            type=click.Choice(["text", "json"]),
            default="text",
            show_default=True,
            help="json: one JSON event per line on stdout, then the result.",
        ),
        click.option(
            "--log-format",
            type=click.Choice(["text", "json"]),
            default="text",
            show_default=True,
            help="Format of the live log on stderr.",
        ),
        click.option(
            "-v",
            "--verbose",
            "--debug",
            "verbose",
            is_flag=True,
            help="Show every object applied (--debug: helm's name for more output).",
        ),
    )
    for option in reversed(options):
        f = option(f)
    return target_options(f)


_description = click.option(
    "--description", help="The revision's description (helm history), instead of Helm's."
)
_history_max = click.option(
    "--history-max",
    type=click.IntRange(min=0),
    default=10,
    show_default=True,
    help="Records kept per release, oldest removed first (0: no limit), as helm's flag.",
)


def values_mode_options(f: F) -> F:
    """helm upgrade's --reuse-values, --reset-values and --reset-then-reuse-values."""
    options = (
        click.option(
            "--reuse-values",
            is_flag=True,
            help="Upgrade: merge the new values over the previous revision's (and its chart "
            "defaults).",
        ),
        click.option(
            "--reset-values",
            is_flag=True,
            help="Upgrade: the chart's defaults and the new values only.",
        ),
        click.option(
            "--reset-then-reuse-values",
            is_flag=True,
            help="Upgrade: the new chart's defaults, the previous values, then the new values.",
        ),
    )
    for option in reversed(options):
        f = option(f)
    return f


def values_mode(kwargs: dict[str, Any]) -> str:
    """The DeployOptions.values_mode the `values_mode_options` flags ask for (popped); exit 2
    when more than one is given."""
    modes = [
        mode
        for flag, mode in (
            ("reuse_values", "reuse"),
            ("reset_values", "reset"),
            ("reset_then_reuse_values", "reset-then-reuse"),
        )
        if kwargs.pop(flag, False)
    ]
    if len(modes) > 1:
        click.echo(
            "Error: --reuse-values, --reset-values and --reset-then-reuse-values exclude each "
            "other; pass one",
            err=True,
        )
        raise SystemExit(2)
    return modes[0] if modes else ""


_wait_for_jobs = click.option(
    "--wait-for-jobs",
    is_flag=True,
    help="Wait until every Job of the release has completed (helm's flag). helmguard waits "
    "for them with or without it: a Job is Ready only once Complete, and one that fails "
    "fails the operation (helm without it does not wait for Jobs). Not with --no-wait.",
)


def _check_wait_for_jobs(kwargs: dict[str, Any]) -> None:
    """--wait-for-jobs (popped) asks for a wait that --no-wait turns off: exit 2."""
    if kwargs.pop("wait_for_jobs", False) and kwargs.get("no_wait"):
        click.echo(
            "Error: --wait-for-jobs waits for Jobs and --no-wait for nothing; pass one", err=True
        )
        raise SystemExit(2)


class _Display:
    """Prints operation steps live: a line per wave/step, a spinner while waiting."""

    def __init__(self, *, output: str, log_format: str, verbose: bool) -> None:
        self.output = output
        self.log_format = log_format
        self.verbose = verbose
        self.status: Any = None
        self.waiting: dict[str, str] = {}

    @functools.cached_property
    def console(self) -> Console:
        """rich's console on stderr, made (and rich imported) when the first line is shown."""
        from rich.console import Console

        return Console(stderr=True, highlight=False)

    def __call__(self, record: LogRecord) -> None:
        if self.output == "json":
            click.echo(json.dumps({"event": record.to_json()}, default=str))
        if self.log_format == "json":
            sys.stderr.write(json.dumps(record.to_json(), default=str) + "\n")
            return
        if self.output == "json":
            return
        if record.step == Step.WAIT_TRANSITION:
            ref = str(record.details.get("ref"))
            state = str(record.details.get("state"))
            if state == "Ready":
                self.waiting.pop(ref, None)
                self._print(record, f"  ready   {ref}")
            else:
                self.waiting[ref] = f"{state}: {record.message}"
                if state in ("Blocked", "Failed"):
                    self._print(record, f"  {state.lower():<8}{record.message}")
            self._spin()
            return
        if record.step == Step.VERDICT:
            self._stop()
            self._print(record, record.message)
            return
        if record.step in _HEADLINE_STEPS or (self.verbose and record.step.startswith("object.")):
            self._print(record, record.message)
            if record.step == Step.WAIT_START:
                self._spin()

    @functools.cached_property
    def styled(self) -> bool:
        """Whether stderr is a terminal (or colour is forced): lines styled by rich, a spinner.

        Into a pipe or a file the lines are written as they are, unwrapped, and rich (its
        import and a Console: ~0.1 s of a deploy's CPU) is not loaded."""
        return sys.stderr.isatty() or bool(os.environ.get("FORCE_COLOR"))

    def _print(self, record: LogRecord, text: str) -> None:
        stamp = record.at.strftime("%H:%M:%S")
        if not self.styled:
            sys.stderr.write(f"{stamp} {text}\n")
            return
        style = _STYLE.get(record.level, "")
        from rich.markup import escape

        self.console.print(f"[dim]{stamp}[/dim] {escape(text)}", style=style or None)

    def _spin(self) -> None:
        if not self.styled or not self.console.is_terminal:
            return
        text = (
            f"waiting for {len(self.waiting)}: " + "; ".join(list(self.waiting.values())[:3])
            if self.waiting
            else "waiting"
        )
        if self.status is None:
            self.status = self.console.status(text)
            self.status.start()
        else:
            self.status.update(text)

    def _stop(self) -> None:
        if self.status is not None:
            self.status.stop()
            self.status = None


T = TypeVar("T")


@contextmanager
def _user_errors() -> Iterator[None]:
    """Errors a user can cause as a message and exit code 2; never a traceback."""
    from helmguard.chart.source import ChartError
    from helmguard.kube.errors import KubeError
    from helmguard.manifest import ManifestError
    from helmguard.store.errors import StoreError

    try:
        yield
    except (ChartError, ManifestError) as exc:
        click.echo(f"Error: {exc}", err=True)
        raise SystemExit(2) from None
    except KubeError as exc:
        click.echo(f"Error: {exc.explain()}", err=True)
        raise SystemExit(1) from None
    except StoreError as exc:
        click.echo(f"Error: {exc}", err=True)
        raise SystemExit(2) from None


def _run(
    action: Callable[[DeployOptions, Configuration], Awaitable[Result]],
    *,
    url: str | None,
    no_store: bool,
    output: str,
    log_format: str,
    verbose: bool,
    show_notes: bool = False,
    **kwargs: Any,
) -> None:
    """Run an action with the `_cluster_options` (and command flags) in `kwargs`.

    The action gets the command's Configuration: the store opens alongside, a live display
    listens. Prints the result (and with `show_notes` a deploy's NOTES, as helm prints
    them); exits 0 only if ok.
    """
    from helmguard.deploy import Configuration

    options = deploy_options(**kwargs)
    display = _Display(output=output, log_format=log_format, verbose=verbose)

    async def main() -> Result:
        # The store's import (SQLAlchemy Core: 0.3 s of CPU, more on a loaded machine) and
        # its migration check: in a thread, opened while the action connects, renders and
        # runs preflight; the action waits for it only when it first needs the store.
        async def prepare() -> Store:
            await asyncio.to_thread(importlib.import_module, "helmguard.store.store")
            from helmguard.store import open_store

            return await open_store(url)

        opening = None if no_store else asyncio.create_task(prepare())

        async def opener() -> Store | None:
            return None if opening is None else await opening

        try:
            config = Configuration.from_options(options, store=opener, listeners=[display])
            return await action(options, config)
        finally:
            if opening is not None:
                # An action that never asked for the store (refused by preflight, say)
                # does not fail for it: its error reaches only an action that asks.
                with contextlib.suppress(Exception):
                    await (await opening).close()

    try:
        with _user_errors():
            result = asyncio.run(main())
    except KeyboardInterrupt:
        display._stop()
        click.echo(
            "Interrupted: the revision is marked interrupted with what was applied.", err=True
        )
        raise SystemExit(130) from None
    display._stop()
    if output == "json":
        click.echo(json.dumps({"result": _result_json(result)}, default=str))
    elif show_notes and result.ok and result.notes:
        click.echo(f"NOTES:\n{result.notes}")
    # The work is done and the store closed: spare the exit a full collection of
    # SQLAlchemy's and Alembic's object graphs (0.2-0.5 s of interpreter teardown).
    gc.freeze()
    if not result.ok:
        raise SystemExit(1)


def _result_json(result: Result) -> dict[str, Any]:
    from helmguard.preflight.report import to_json

    return {
        "operation": result.operation,
        "release": result.release,
        "namespace": result.namespace,
        "revision": result.revision,
        "outcome": result.outcome,
        "message": result.message,
        "rootCause": str(result.root_cause) if result.root_cause else None,
        "errorClass": result.error_class or None,
        "applied": [a.to_json() for a in result.applied],
        "pruned": [str(r) for r in result.pruned],
        "deleted": [str(r) for r in result.deleted],
        "seconds": round(result.seconds, 3),
        "rollback": _result_json(result.rollback) if result.rollback else None,
        "preflight": json.loads(to_json(result.report)) if result.report else None,
    }


def _labels(flags: tuple[str, ...]) -> dict[str, str]:
    """-l/--labels as helm reads them; exit 2 naming what is wrong."""
    from helmguard.deploy.labels import parse_labels

    try:
        return parse_labels(flags)
    except ValueError as exc:
        click.echo(f"Error: {exc}", err=True)
        raise SystemExit(2) from None


def deploy_options(**kwargs: Any) -> DeployOptions:
    """The action's options from a command's flags (diff's too); a bad HELM_DRIVER is exit 2."""
    from helmguard.deploy import DeployOptions
    from helmguard.deploy.release import record_kind

    try:
        record_kind()  # HELM_DRIVER names a storage helm and helmguard can share
    except ValueError as exc:
        click.echo(f"Error: {exc}", err=True)
        raise SystemExit(2) from None
    return DeployOptions(
        kubeconfig=kwargs.get("kubeconfig"),
        context=kwargs.get("context"),
        cluster=str(kwargs.get("cluster") or ""),
        timeout=float(kwargs.get("timeout") or 300.0),
        wait=not kwargs.get("no_wait", False),
        force=bool(kwargs.get("force", False)),
        force_conflicts=bool(kwargs.get("force_conflicts", False)),
        adopt=bool(kwargs.get("adopt", False)),
        atomic=bool(kwargs.get("atomic", False)),
        keep_history=bool(kwargs.get("keep_history", False)),
        description=str(kwargs.get("description") or ""),
        history_max=int(kwargs.get("history_max", 10)),
        create_namespace=bool(kwargs.get("create_namespace", False)),
        values_mode=str(kwargs.get("values_mode") or ""),
        skip_crds=bool(kwargs.get("skip_crds", False)),
        no_hooks=bool(kwargs.get("no_hooks", False)),
        cleanup_on_fail=bool(kwargs.get("cleanup_on_fail", False)),
        labels=_labels(kwargs.get("labels") or ()),
        wait_for_load_balancers=bool(kwargs.get("wait_for_load_balancers", False)),
        require=str(kwargs.get("require") or ""),
    )


@click.command("plan")
@chart_options
@click.option("-o", "--output", type=click.Choice(["text", "json"]), default="text")
@click.option(
    "--operation",
    type=click.Choice(["install", "upgrade", "rollback"]),
    default="install",
    show_default=True,
    help="Which lifecycle hooks to list around the waves; upgrade also renders "
    ".Release.IsUpgrade true.",
)
def plan_command(output: str, operation: str, **kwargs: Any) -> None:
    """Render CHART and print the waves `deploy` would apply, and what each waits for.

    Offline, as `helm template` renders: .Release.Revision 1, an install unless --operation
    upgrade, Helm's default capabilities unless --kube-version / --api-versions, a lookup
    that finds nothing (`diff upgrade` renders as the deploy would, against the cluster).
    """
    from helmguard.chart.render import render_chart
    from helmguard.deploy import plan
    from helmguard.graph.order import plan_to_dict, plan_to_text

    with _user_errors():
        rendered = render_chart(request_from_options(**kwargs, is_upgrade=operation == "upgrade"))
        try:
            the_plan = plan(rendered, operation=operation)
        except ValueError as exc:
            click.echo(f"Error: {exc}", err=True)
            raise SystemExit(2) from None
    if output == "json":
        click.echo(json.dumps(plan_to_dict(the_plan), indent=2))
    else:
        click.echo(plan_to_text(the_plan), nl=False)


def _deploy_flags(f: F) -> F:
    """The flags of deploy, install and upgrade: Helm's (helm v4's names and their v3 names
    where they differ: --rollback-on-failure/--atomic, --take-ownership/--adopt)."""
    options = (
        click.option("--no-wait", is_flag=True, help="Return once every wave is applied."),
        wait_option("is --no-wait"),
        _wait_for_jobs,
        click.option(
            "--wait-for-load-balancers",
            is_flag=True,
            help="Also wait until every LoadBalancer Service and Ingress has an address "
            "(default: warn only).",
        ),
        click.option(
            "--force",
            is_flag=True,
            help="Deploy even if preflight finds errors (loudly warned). Not helm's --force "
            "(helm v4's deprecated name of --force-replace, replacing objects), which "
            "helmguard does not do.",
        ),
        click.option(
            "--force-conflicts", is_flag=True, help="Take over fields other managers own."
        ),
        click.option(
            "--server-side",
            "server_side",
            is_flag=False,
            flag_value="true",
            default="auto",
            show_default=True,
            metavar="[=true|auto]",
            help="helm v4's apply mode. helmguard always applies server-side, and its record "
            "says so as helm's: true and auto say the same (auto also on an upgrade of a "
            "release helm applied client-side, which helm would patch client-side); false "
            "(helm's client-side apply) is refused.",
        ),
        click.option(
            "--force-replace",
            is_flag=True,
            help="helm v4's update by replacement, which it does only with --server-side=false: "
            "refused, as helmguard applies server-side only.",
        ),
        click.option(
            "--disable-openapi-validation",
            is_flag=True,
            help="Accepted for helm's command lines; as with helm v4's server-side apply, the "
            "API server still refuses an object its schema does not allow (preflight's dry "
            "run says so first).",
        ),
        click.option(
            "--adopt",
            "--take-ownership",
            "adopt",
            is_flag=True,
            help="Take over objects that exist already, whoever owns them (helm's "
            "--take-ownership); without it one that is not this release's is refused before "
            "anything is written, as helm's.",
        ),
        click.option(
            "--atomic",
            "--rollback-on-failure",
            "atomic",
            is_flag=True,
            help="On failure, restore the previous revision (or remove all).",
        ),
        click.option(
            "--cleanup-on-fail",
            is_flag=True,
            help="When an upgrade fails, delete the objects it created (as helm's: not a "
            "first install's, which --atomic removes).",
        ),
        click.option(
            "--create-namespace", is_flag=True, help="Create the release namespace if absent."
        ),
        click.option(
            "--skip-crds", is_flag=True, help="Do not install the chart's crds/ (as helm's)."
        ),
        click.option(
            "--no-hooks",
            is_flag=True,
            help="Run no hook (pre-/post-install or -upgrade, nor those of --atomic's undo); "
            "they are still stored in the release record, as helm's.",
        ),
        click.option(
            "-l",
            "--labels",
            "labels",
            multiple=True,
            metavar="KEY=VALUE[,...]",
            help="Labels of the release record (helm list --selector finds them); repeatable. "
            "An upgrade merges them over the previous revision's; KEY=null removes one.",
        ),
        click.option(
            "--hide-notes",
            is_flag=True,
            help="Do not print the chart's NOTES after a deploy (they are still stored: "
            "helm get notes), as helm's.",
        ),
        _description,
        _history_max,
        values_mode_options,
        click.option(
            "--dry-run",
            "dry_run",
            is_flag=False,
            flag_value="client",
            default=None,
            help="client: render and check offline; server: the full preflight against the "
            "cluster. Nothing is written.",
        ),
        click.option(
            "--hide-secret",
            is_flag=True,
            help="With --dry-run: each Secret of the manifest printed as helm's hidden line.",
        ),
    )
    for option in reversed(options):
        f = option(f)
    return release_chart_options(_cluster_options(f))


@click.command("deploy")
@_deploy_flags
def deploy_command(**kwargs: Any) -> None:
    """Install or upgrade CHART as release NAME: preflight, ordered waves, wait, prune.

    As `helm upgrade --install NAME CHART`. Exit codes: 0 deployed, 1 refused/failed, 2 bad
    input, 130 interrupted.
    """
    _deploy(kwargs, require="")


@click.command("install")
@_deploy_flags
def install_command(**kwargs: Any) -> None:
    """Install CHART as a new release NAME, as `helm install NAME CHART`.

    Refused (exit 1) when the cluster has a release of that name, whatever its state
    (helm's rule); `deploy` or `upgrade --install` install or upgrade.

    Exit codes: 0 deployed, 1 refused/failed, 2 bad input, 130 interrupted.
    """
    _deploy(kwargs, require="install")


@click.command("upgrade")
@click.option(
    "-i", "--install", is_flag=True, help="Install the release if it does not exist (= deploy)."
)
@_deploy_flags
def upgrade_command(install: bool, **kwargs: Any) -> None:
    """Upgrade release NAME to CHART, as `helm upgrade [--install] NAME CHART`.

    Without --install, refused (exit 1) when NAME has no revision or was uninstalled (helm:
    "has no deployed releases"); with it, the same as `deploy`.

    Exit codes: 0 deployed, 1 refused/failed, 2 bad input, 130 interrupted.
    """
    _deploy(kwargs, require="" if install else "upgrade")


def _deploy(kwargs: dict[str, Any], *, require: str) -> None:
    from helmguard.deploy import deploy

    read_wait(kwargs)
    kwargs["values_mode"] = values_mode(kwargs)
    kwargs["require"] = require
    _check_wait_for_jobs(kwargs)
    _check_apply_mode(kwargs)
    show_notes = not kwargs.pop("hide_notes")
    dry_run = kwargs.pop("dry_run")
    hide_secret = kwargs.pop("hide_secret")
    if hide_secret and dry_run is None:
        raise click.UsageError("--hide-secret hides Secrets in --dry-run's output: add --dry-run")
    if dry_run is not None:
        _dry_run(dry_run, hide_secret=hide_secret, **kwargs)
        return
    request = request_from_options(**kwargs)
    _run(
        lambda options, config: deploy(request, options, config=config),
        show_notes=show_notes,
        **kwargs,
    )


_SERVER_SIDE = ("true", "false", "auto")


def _check_apply_mode(kwargs: dict[str, Any]) -> None:
    """helm v4's --server-side, --force-replace and --disable-openapi-validation (popped):
    UsageError (exit 2) for what asks for helm's client-side apply, which helmguard lacks."""
    server_side = kwargs.pop("server_side")
    kwargs.pop("disable_openapi_validation")
    if server_side not in _SERVER_SIDE:
        raise click.UsageError(
            f"--server-side={server_side}: must be {', '.join(map(repr, _SERVER_SIDE))}"
        )
    if server_side == "false":
        raise click.UsageError(
            "--server-side=false: helmguard applies server-side only (helm's client-side "
            "apply is not done); pass --server-side=true or auto, or leave it out"
        )
    if kwargs.pop("force_replace"):
        raise click.UsageError(
            "--force-replace: helm v4 replaces objects only with --server-side=false (client-"
            "side apply), which helmguard does not do; leave it out (helmguard's --force is "
            "another flag: past preflight errors)"
        )


def _dry_run(mode: str, *, hide_secret: bool = False, **kwargs: Any) -> None:
    """`--dry-run=client|server`: the rendered manifest (`hide_secret`: its Secrets hidden, as
    helm's --hide-secret) and the preflight report, nothing written.

    Exit codes as `helmguard check`: 0, 1 with error findings, 2 bad input or no cluster.
    """
    from helmguard.chart.render import render_chart, template_output
    from helmguard.preflight.check import check
    from helmguard.preflight.findings import Severity
    from helmguard.preflight.report import to_table

    if mode not in ("client", "server"):
        click.echo(f"Error: --dry-run={mode!r}: use --dry-run=client or --dry-run=server", err=True)
        raise SystemExit(2)
    request = request_from_options(**kwargs)
    with _user_errors():
        try:
            report = check(
                request,
                offline=mode == "client",
                kubeconfig=kwargs.get("kubeconfig"),
                context=kwargs.get("context"),
                create_namespace=bool(kwargs.get("create_namespace")),
                timeout=min(60.0, float(kwargs.get("timeout") or 60.0)),
            )
        except Exception as exc:
            from helmguard.kube.errors import KubeError

            if isinstance(exc, KubeError):  # no cluster to dry-run on: bad input here
                click.echo(f"Error: {exc.explain()}", err=True)
                raise SystemExit(2) from None
            raise
        rendered = render_chart(request)
        click.echo(template_output(rendered, hide_secrets=hide_secret), nl=False)
    click.echo(to_table(report), err=True, nl=False)
    if any(f.severity >= Severity.ERROR for f in report.findings):
        raise SystemExit(1)


@click.command("test")
@click.argument("release")
@click.option("-n", "--namespace", default="default", show_default=True)
@click.option(
    "--filter",
    "filters",
    multiple=True,
    metavar="name=NAME|!name=NAME",
    help="Run only the tests named (name=NAME), or all but those (!name=NAME); repeatable, "
    "or comma-separated, as helm test's.",
)
@_cluster_options
def test_command(release: str, namespace: str, filters: tuple[str, ...], **kwargs: Any) -> None:
    """Run RELEASE's test hooks (helm.sh/hook: test) as `helm test` does.

    Exit codes: 0 every test passed, 1 a test failed (its reason is printed), 2 bad input.
    """
    from helmguard.deploy.release_test import release_test

    only, skip = _test_filters(filters)
    # Like `helm test`, a test run is not a revision: nothing is written to the store (the
    # release's record says when each test last ran, as helm's does).
    _run(
        lambda options, config: release_test(
            namespace, release, options, config=config, only=only, skip=skip
        ),
        **{**kwargs, "no_store": True},
    )


def _test_filters(filters: Sequence[str]) -> tuple[set[str], set[str]]:
    """helm test's --filter values (pkg/cmd/release_testing.go): the names to run, and
    those to skip; anything else is a usage error (helm ignores it silently)."""
    only: set[str] = set()
    skip: set[str] = set()
    for item in (part for value in filters for part in value.split(",")):
        if item.startswith("name="):
            only.add(item.removeprefix("name="))
        elif (excluded := re.sub(r"^!\s?name=", "", item)) != item:
            skip.add(excluded)
        else:
            raise click.UsageError(
                f"--filter {item!r}: helm test's filters are name=NAME and !name=NAME"
            )
    return only, skip
