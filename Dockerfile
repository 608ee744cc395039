# helmguard's image: the package and its dependencies exactly as uv.lock pins them.
# Build: docker build -t helmguard:0.1.0 .   (the chart in charts/helmguard runs it)
FROM python:3.11-slim AS build
COPY --from=ghcr.io/astral-sh/uv:0.9 /uv /usr/local/bin/uv
ENV UV_COMPILE_BYTECODE=1 UV_LINK_MODE=copy UV_PYTHON_DOWNLOADS=never
WORKDIR /app
# Dependencies first (a layer that changes only with the lockfile), then the project.
COPY pyproject.toml uv.lock ./
RUN uv sync --frozen --no-dev --no-install-project --no-editable
COPY README.md ./
COPY src ./src
RUN uv sync --frozen --no-dev --no-editable

FROM python:3.11-slim
RUN useradd --uid 10001 --user-group --no-create-home --home-dir /tmp helmguard
COPY --from=build /app/.venv /app/.venv
ENV PATH=/app/.venv/bin:$PATH HOME=/tmp PYTHONUNBUFFERED=1
USER 10001:10001
EXPOSE 8080
ENTRYPOINT ["/app/.venv/bin/helmguard"]
CMD ["serve", "--host=0.0.0.0", "--port=8080"]
