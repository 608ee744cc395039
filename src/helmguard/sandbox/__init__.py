"""A real local Kubernetes control plane for tests, demos and trying charts.

etcd, kube-apiserver, kube-controller-manager, kube-scheduler and kwok (a fake kubelet
managing three fake Nodes in three zones), built from Go modules and started as local
processes on loopback; a default StorageClass is bound by the controller-manager's
hostpath provisioner. Never imported by the product's runtime paths.
"""

from helmguard.sandbox.cluster import Sandbox, sandbox_down, sandbox_status, sandbox_up
from helmguard.sandbox.errors import SandboxError

__all__ = ["Sandbox", "SandboxError", "sandbox_down", "sandbox_status", "sandbox_up"]
