"""API routes, one APIRouter per module, each included from `api.app` with one line."""
