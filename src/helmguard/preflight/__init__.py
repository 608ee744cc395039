"""Preflight: resolve references, report findings, without changing the cluster."""
