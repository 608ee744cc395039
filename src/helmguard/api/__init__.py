"""helmguard's HTTP surface: REST API, live stream, metrics, and the dashboard page.

`helmguard.api.app.create_app` builds the FastAPI application; its Prometheus metrics
live in `helmguard.metrics`, which the sync and informers feed too.
"""
