"""The deploy's verdict on what it observed: what ends the wait and what does not hold it."""

from __future__ import annotations

from click.testing import CliRunner

from helmguard.cli import main
from helmguard.deploy.observe import unawaited, verdict
from helmguard.manifest import ObjectRef
from helmguard.status import Observed, ResourceStatus, State, evaluate
from helmguard.sync.look import Snapshot
from status.helpers import edited, load, named
from status.kinds import NOW, obj

WEB = ObjectRef("apps", "Deployment", "shop", "web")


def _service(**paths: object) -> ResourceStatus:
    """The recorded LoadBalancer Service, evaluated with its recorded, now ready, endpoint."""
    endpoint = dict(obj("EndpointSlice").body["endpoints"][0], conditions={"ready": True})
    ready_slice = edited(obj("EndpointSlice"), endpoints=[endpoint])
    return evaluate(Observed(edited(obj("Service"), **paths), NOW, (ready_slice,)))


def _ready(ref: ObjectRef) -> ResourceStatus:
    return ResourceStatus(ref, State.READY, "Available", "1 of 1 replicas available")


def test_load_balancer_without_address_does_not_hold_the_deploy() -> None:
    pending = _service()
    assert pending.reason == "LoadBalancerPending"
    outcome = verdict([_ready(WEB), pending])
    assert (outcome.done, outcome.ready) == (True, True)
    assert "1 of 2 resources Ready; not waited for: Service shop/web" in outcome.message
    assert "no load-balancer controller has assigned an address" in outcome.message


def test_load_balancer_is_waited_for_when_asked() -> None:
    pending = _service()
    assert unawaited(pending) and not unawaited(pending, wait_for_load_balancers=True)
    outcome = verdict([_ready(WEB), pending], wait_for_load_balancers=True)
    assert (outcome.done, outcome.state) == (False, State.PROGRESSING)
    assert "LoadBalancerPending" in outcome.message
    assigned = _service(status__loadBalancer={"ingress": [{"ip": "192.0.2.7"}]})
    ready = verdict([_ready(WEB), assigned], wait_for_load_balancers=True)
    assert (ready.done, ready.ready, ready.message) == (True, True, "all 2 resources Ready")


def test_other_pending_resources_still_hold_the_deploy() -> None:
    rolling = ResourceStatus(WEB, State.PROGRESSING, "RollingOut", "0 of 1 replicas updated")
    outcome = verdict([rolling, _service()])
    assert (outcome.done, outcome.culprit) == (False, rolling)


def test_trouble_ends_the_wait_even_beside_a_pending_load_balancer() -> None:
    blocked = ResourceStatus(WEB, State.BLOCKED, "FailedCreate", "quota exceeded")
    outcome = verdict([blocked, _service()])
    assert (outcome.done, outcome.ready, outcome.state) == (True, False, State.BLOCKED)


def test_deploy_offers_the_flag() -> None:
    reply = CliRunner().invoke(main, ["deploy", "--help"])
    assert reply.exit_code == 0
    assert "--wait-for-load-balancers" in reply.output


def test_a_workload_explains_better_than_the_service_passing_its_trouble_on() -> None:
    svc = ObjectRef("", "Service", "shop", "web")
    sa = ObjectRef("", "ServiceAccount", "shop", "web")
    passed_on = ResourceStatus(svc, State.BLOCKED, "FailedCreate", "backend web: …", None,
                               None, None, sa)  # fmt: skip
    own = ResourceStatus(WEB, State.BLOCKED, "FailedCreate", "sa not found", None, None, None, sa)
    assert verdict([passed_on, own]).culprit == own
    assert verdict([passed_on]).culprit == passed_on


def test_an_ingress_without_address_is_reported_not_waited_for() -> None:
    """As a LoadBalancer Service: many clusters run no ingress controller, and helm's wait
    does not wait for Ingresses; --wait-for-load-balancers waits."""
    ingress = evaluate(Observed(obj("Ingress"), NOW))
    assert ingress.reason == "LoadBalancerPending" and unawaited(ingress)
    assert "no ingress controller for class nginx" in ingress.message, ingress.message
    done = verdict([ingress])
    assert done.done and done.ready, done
    assert verdict([ingress], wait_for_load_balancers=True).done is False


def test_a_blocked_deployment_names_its_replicaset_even_before_the_replicaset_is_seen() -> None:
    """The Deployment's copy of ReplicaFailure can arrive before the ReplicaSet's own watch
    event; the message names the ReplicaSet either way (the refused pod's generateName)."""
    seed = load("seed_missing_sa")
    deployment, replicaset = named(seed, "Deployment"), named(seed, "ReplicaSet")
    for children in ((replicaset,), ()):
        status = evaluate(Observed(deployment, NOW, children))
        snapshot = Snapshot(NOW, {status.ref: deployment}, {status.ref: status}, children)
        message = verdict([status], snapshot).message
        where = "msga-cn/common-vault (ReplicaSet msga-cn/common-vault-6c787c5cb5)"
        assert message.startswith(f"Blocked: Deployment.apps {where} FailedCreate: "), message
