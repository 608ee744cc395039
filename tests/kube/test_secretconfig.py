"""A cluster's connection from a Secret's data: a kubeconfig key, or server + token + CA;
everything a user can get wrong is a KubeConfigError naming the Secret and the key."""

from __future__ import annotations

import base64
from typing import Any

import pytest

from helmguard.kube.errors import KubeConfigError
from helmguard.kube.secretconfig import config_from_secret, secret_ref

CA = b"-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n"
KUBECONFIG = """\
apiVersion: v1
kind: Config
current-context: one
clusters:
- {name: c, cluster: {server: "https://10.0.0.1:6443", certificate-authority-data: QUJD}}
users:
- {name: u, user: {token: secret-token-1}}
- {name: v, user: {token: secret-token-2}}
contexts:
- {name: one, context: {cluster: c, user: u, namespace: shop}}
- {name: two, context: {cluster: c, user: v}}
"""


def _secret(**data: str | bytes) -> dict[str, Any]:
    encoded = {
        k: base64.b64encode(v if isinstance(v, bytes) else v.encode()).decode()
        for k, v in data.items()
    }
    return {"metadata": {"name": "b", "namespace": "hg"}, "data": encoded}


def test_a_kubeconfig_key_gives_its_current_or_named_context() -> None:
    config = config_from_secret(_secret(kubeconfig=KUBECONFIG), "hg/b")
    assert (config.target.server, config.target.context, config.token) == (
        "https://10.0.0.1:6443",
        "one",
        "secret-token-1",
    )
    assert config.ca_pem == b"ABC" and config.target.namespace == "shop"
    assert config.target.source == "Secret hg/b key kubeconfig"
    assert config_from_secret(_secret(kubeconfig=KUBECONFIG), "hg/b", "two").token == (
        "secret-token-2"
    )


def test_server_token_and_ca_as_a_service_account_token_secret_holds_them() -> None:
    config = config_from_secret(
        _secret(server="https://10.0.0.2:6443\n", token="t0k3n-x\n", **{"ca.crt": CA}), "hg/b"
    )
    assert (config.target.server, config.token, config.ca_pem) == (
        "https://10.0.0.2:6443",
        "t0k3n-x",
        CA,
    )
    assert config.target.auth == "token" and "hg/b" in str(config.target)
    assert "t0k3n-x" not in repr(config)
    # Without ca.crt the system's trust roots verify the server.
    assert config_from_secret(_secret(server="https://x", token="t"), "hg/b").ca_pem is None


@pytest.mark.parametrize(
    ("data", "context", "said"),
    [
        ({"foo": "bar"}, None, "has neither a 'kubeconfig' key nor a 'server' and a 'token' "
         "(missing: server, token; its keys: foo)"),
        ({"server": "https://x"}, None, "(missing: token; its keys: server)"),
        ({"server": "http://x", "token": "t"}, None, "key 'server' is 'http://x', not an https"),
        ({"server": "https://x", "token": "t", "ca.crt": "nope"}, None, "not a PEM certificate"),
        ({"server": "https://x", "token": "t"}, "one", "no 'kubeconfig' key, so there is no "
         "context 'one'"),
        ({"kubeconfig": "{{nope"}, None, "Cannot read kubeconfig Secret hg/b key kubeconfig: "
         "invalid YAML"),
        ({"kubeconfig": KUBECONFIG}, "three", "Context 'three' is not defined in Secret hg/b"),
        ({"kubeconfig": KUBECONFIG.replace("{token: secret-token-1}", "{tokenFile: /etc/t}")},
         None, "users 'u' sets tokenFile: a kubeconfig read from a Secret may not run"),
        ({"kubeconfig": KUBECONFIG.replace(
            "certificate-authority-data: QUJD", "certificate-authority: /etc/passwd")},
         None, "clusters 'c' sets certificate-authority"),
        ({"kubeconfig": KUBECONFIG.replace(
            "{token: secret-token-1}",
            "{exec: {apiVersion: client.authentication.k8s.io/v1, command: /bin/sh}}")},
         None, "users 'u' sets exec"),
    ],
)  # fmt: skip
def test_what_a_user_can_get_wrong_is_named(
    data: dict[str, str], context: str | None, said: str
) -> None:
    with pytest.raises(KubeConfigError) as caught:
        config_from_secret(_secret(**data), "hg/b", context)
    assert said in caught.value.explain()


def test_data_that_is_not_base64_is_named() -> None:
    with pytest.raises(KubeConfigError, match="Secret hg/b key 'token' is not base64"):
        config_from_secret({"data": {"server": "aHR0cHM6Ly94", "token": "%%"}}, "hg/b")


@pytest.mark.parametrize("text", ["b", "/b", "hg/", "Hg/b", "hg/b/c", "hg/-b"])
def test_a_reference_is_namespace_slash_name(text: str) -> None:
    with pytest.raises(ValueError, match="is not NAMESPACE/NAME of a Secret"):
        secret_ref(text)
    assert secret_ref("hg/cluster-b.x") == ("hg", "cluster-b.x")
