"""Kubernetes client layer: connection, discovery, error taxonomy."""
