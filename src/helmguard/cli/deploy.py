"""`helmguard plan`, `deploy`, `rollback` and `uninstall`: thin shells over `helmguard.deploy`."""

from __future__ import annotations

import asyncio
import gc
import importlib
import json
import sys
from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any, TypeVar

import click

from helmguard.cli.chart_options import chart_options, request_from_options

if TYPE_CHECKING:
    from helmguard.deploy import DeployOptions, LogRecord, Result
    from helmguard.deploy.actions import StoreOpener
    from helmguard.deploy.oplog import Listener
    from helmguard.store import Store

F = TypeVar("F", bound=Callable[..., Any])

# Steps shown as a line in the live display; per-object steps only with -v.
_HEADLINE_STEPS = frozenset(
    {
        "preflight.skipped",
        "preflight.finding",
        "preflight.passed",
        "lock.acquired",
        "plan",
        "plan.cycle",
        "gate.passed",
        "wait.load-balancer",
        "wave.applied",
        "object.failed",
        "prune",
        "hook.applied",
        "hook.succeeded",
        "wait.start",
        "wait.ready",
        "atomic.start",
        "atomic.done",
        "interrupted",
        "record.failed",
        "revision.stale",
        "rollback.target",
    }
)
_STYLE = {"error": "bold red", "warning": "yellow", "info": ""}


def _cluster_options(f: F) -> F:
    options = (
        click.option("--kubeconfig", help="kubeconfig file (default: KUBECONFIG, ~/.kube/config)."),
        click.option("--kube-context", "context", help="kubeconfig context to use."),
        click.option(
            "--timeout",
            type=float,
            default=300.0,
            show_default=True,
            help="Seconds for the whole operation, retries of transient errors included.",
        ),
        click.option(
            "--db",
            "db_url",
            help="Store URL or SQLite path (default: $HELMGUARD_DB, else the user data dir).",
        ),
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
        click.option("-v", "--verbose", is_flag=True, help="Show every object applied."),
    )
    for option in reversed(options):
        f = option(f)
    return f


class _Display:
    """Prints operation steps live: a line per wave/step, a spinner while waiting."""

    def __init__(self, *, output: str, log_format: str, verbose: bool) -> None:
        from rich.console import Console

        self.output = output
        self.log_format = log_format
        self.verbose = verbose
        self.console = Console(stderr=True, highlight=False)
        self.status: Any = None
        self.waiting: dict[str, str] = {}

    def __call__(self, record: LogRecord) -> None:
        if self.output == "json":
            click.echo(json.dumps({"event": record.to_json()}, default=str))
        if self.log_format == "json":
            sys.stderr.write(json.dumps(record.to_json(), default=str) + "\n")
            return
        if self.output == "json":
            return
        if record.step == "wait.transition":
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
        if record.step == "verdict":
            self._stop()
            self._print(record, record.message)
            return
        if record.step in _HEADLINE_STEPS or (self.verbose and record.step.startswith("object.")):
            self._print(record, record.message)
            if record.step == "wait.start":
                self._spin()

    def _print(self, record: LogRecord, text: str) -> None:
        style = _STYLE.get(record.level, "")
        stamp = record.at.strftime("%H:%M:%S")
        from rich.markup import escape

        self.console.print(f"[dim]{stamp}[/dim] {escape(text)}", style=style or None)

    def _spin(self) -> None:
        if not self.console.is_terminal:
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

    try:
        yield
    except (ChartError, ManifestError) as exc:
        click.echo(f"Error: {exc}", err=True)
        raise SystemExit(2) from None
    except KubeError as exc:
        click.echo(f"Error: {exc.explain()}", err=True)
        raise SystemExit(1) from None
    except Exception as exc:
        # The store is imported lazily (slow imports); only then can its error be raised.
        errors = sys.modules.get("helmguard.store.errors")
        if errors is not None and isinstance(exc, errors.StoreError):
            click.echo(f"Error: {exc}", err=True)
            raise SystemExit(2) from None
        raise


def _run(
    action: Callable[[DeployOptions, StoreOpener | None, list[Listener]], Awaitable[Result]],
    *,
    db_url: str | None,
    no_store: bool,
    output: str,
    log_format: str,
    verbose: bool,
    **kwargs: Any,
) -> None:
    """Run an action with the `_cluster_options` (and command flags) in `kwargs`.

    The store opens alongside, a live display listens; prints the result; exits 0 only if ok.
    """
    options = _options(**kwargs)
    display = _Display(output=output, log_format=log_format, verbose=verbose)

    async def main() -> Result:
        # The store's imports (SQLAlchemy, Alembic) take seconds: load them in a thread
        # while the action connects and runs preflight, and open the store when it asks.
        warm = (
            None
            if no_store
            else asyncio.create_task(asyncio.to_thread(importlib.import_module, "helmguard.store"))
        )
        opened: list[Store] = []

        async def opener() -> Store | None:
            if warm is None:
                return None
            await warm
            from helmguard.store import open_store

            if not opened:
                opened.append(await open_store(db_url))
            return opened[0]

        try:
            return await action(options, opener, [display])
        finally:
            if warm is not None:
                await warm
            for store in opened:
                await store.close()

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


def _options(**kwargs: Any) -> DeployOptions:
    from helmguard.deploy import DeployOptions

    return DeployOptions(
        kubeconfig=kwargs.get("kubeconfig"),
        context=kwargs.get("context"),
        timeout=float(kwargs.get("timeout") or 300.0),
        wait=not kwargs.get("no_wait", False),
        force=bool(kwargs.get("force", False)),
        force_conflicts=bool(kwargs.get("force_conflicts", False)),
        adopt=bool(kwargs.get("adopt", False)),
        atomic=bool(kwargs.get("atomic", False)),
        keep_history=bool(kwargs.get("keep_history", False)),
        wait_for_load_balancers=bool(kwargs.get("wait_for_load_balancers", False)),
    )


@click.command("plan")
@chart_options
@click.option("-o", "--output", type=click.Choice(["text", "json"]), default="text")
@click.option(
    "--operation",
    type=click.Choice(["install", "upgrade", "rollback"]),
    default="install",
    show_default=True,
    help="Which lifecycle hooks to list around the waves.",
)
def plan_command(output: str, operation: str, **kwargs: Any) -> None:
    """Render CHART and print the waves `deploy` would apply, and what each waits for."""
    from helmguard.chart.render import render_chart
    from helmguard.deploy import plan
    from helmguard.graph.order import plan_to_dict, plan_to_text

    with _user_errors():
        rendered = render_chart(request_from_options(**kwargs))
        try:
            the_plan = plan(rendered, operation=operation)
        except ValueError as exc:
            click.echo(f"Error: {exc}", err=True)
            raise SystemExit(2) from None
    if output == "json":
        click.echo(json.dumps(plan_to_dict(the_plan), indent=2))
    else:
        click.echo(plan_to_text(the_plan), nl=False)


@click.command("deploy")
@chart_options
@_cluster_options
@click.option("--no-wait", is_flag=True, help="Return once every wave is applied.")
@click.option(
    "--wait-for-load-balancers",
    is_flag=True,
    help="Also wait until every LoadBalancer Service has an address (default: warn only).",
)
@click.option(
    "--force", is_flag=True, help="Deploy even if preflight finds errors (loudly warned)."
)
@click.option("--force-conflicts", is_flag=True, help="Take over fields other managers own.")
@click.option("--adopt", is_flag=True, help="Take over objects owned by Helm or nobody.")
@click.option(
    "--atomic", is_flag=True, help="On failure, restore the previous revision (or remove all)."
)
def deploy_command(**kwargs: Any) -> None:
    """Install or upgrade CHART as a release: preflight, ordered waves, wait, prune.

    Exit codes: 0 deployed, 1 refused/failed, 2 bad input, 130 interrupted.
    """
    from helmguard.deploy import deploy

    request = request_from_options(**kwargs)
    _run(
        lambda options, store, listeners: deploy(
            request, options, store=store, listeners=listeners
        ),
        **kwargs,
    )


@click.command("rollback")
@click.argument("release")
@click.argument("revision", type=int, required=False)
@click.option("-n", "--namespace", default="default", show_default=True)
@_cluster_options
@click.option("--no-wait", is_flag=True, help="Return once every wave is applied.")
def rollback_command(release: str, revision: int | None, namespace: str, **kwargs: Any) -> None:
    """Re-apply REVISION of RELEASE (default: the previous deployed one) as a new revision."""
    from helmguard.deploy import rollback

    _run(
        lambda options, store, listeners: rollback(
            namespace, release, revision, options, store=store, listeners=listeners
        ),
        **kwargs,
    )


@click.command("uninstall")
@click.argument("release")
@click.option("-n", "--namespace", default="default", show_default=True)
@_cluster_options
@click.option("--keep-history", is_flag=True, help="Keep the release's records in the store.")
def uninstall_command(release: str, namespace: str, **kwargs: Any) -> None:
    """Delete everything RELEASE applied, in reverse order, and wait until it is gone."""
    from helmguard.deploy import uninstall

    _run(
        lambda options, store, listeners: uninstall(
            namespace, release, options, store=store, listeners=listeners
        ),
        **kwargs,
    )
