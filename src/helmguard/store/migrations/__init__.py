"""Alembic migrations shipped with helmguard; run by `helmguard.store.migrate`, no alembic.ini."""
