"""helmguard's HTTP surface: REST API, live stream, metrics, and the dashboard page.

`helmguard.api.app.create_app` builds the FastAPI application; this package imports
nothing heavy itself, so `helmguard.api.metrics` stays cheap to import.
"""
