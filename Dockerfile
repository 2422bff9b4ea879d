# syntax=docker/dockerfile:1
# stop-livestream-bot, following uv's "Using uv in Docker" guide (intermediate layers):
# dependencies are installed from uv.lock in their own layer, then the project.
#   docker build -t stop-livestream-bot .
#   docker run --env-file .env -p 3000:3000 --stop-timeout 30 stop-livestream-bot
#   docker run --env-file .env --stop-timeout 30 --no-healthcheck stop-livestream-bot socket
# (README.md, "Deploy", says why.)
FROM python:3.11-slim-bookworm

# Pinned to the uv that wrote uv.lock.
COPY --from=ghcr.io/astral-sh/uv:0.13.9 /uv /uvx /bin/

# Compile bytecode at install time: the non-root user cannot write __pycache__ later.
# Copy from the cache mount rather than hard-link to it (it is not in the image).
# Use the image's Python; never download another.
ENV UV_COMPILE_BYTECODE=1 \
    UV_LINK_MODE=copy \
    UV_PYTHON_DOWNLOADS=0 \
    PYTHONUNBUFFERED=1

WORKDIR /app

# Dependencies only, from the lock file: this layer is rebuilt only when they change.
RUN --mount=type=cache,target=/root/.cache/uv \
    --mount=type=bind,source=uv.lock,target=uv.lock \
    --mount=type=bind,source=pyproject.toml,target=pyproject.toml \
    uv sync --frozen --no-dev --no-install-project

# Then the project itself (README.md is its package readme, needed to build it).
# Installed non-editable, so the image runs the installed package, compiled.
COPY pyproject.toml uv.lock README.md ./
COPY bot ./bot
RUN --mount=type=cache,target=/root/.cache/uv \
    uv sync --frozen --no-dev --no-editable

ENV PATH="/app/.venv/bin:$PATH"

RUN groupadd --system --gid 10001 bot \
 && useradd --system --gid 10001 --uid 10001 --no-create-home --shell /usr/sbin/nologin bot
USER bot

# HTTP mode listens on $PORT (default 3000). Configuration comes from the environment
# (docker run --env-file .env); the image holds no .env and no secret.
EXPOSE 3000

# The bot drains stops in flight for up to 25 s on SIGTERM: give it 30 s
# (docker stop -t 30; compose.yaml sets stop_grace_period).
STOPSIGNAL SIGTERM

# HTTP mode only: GET /healthz on $PORT. Socket Mode serves no HTTP, so run it with
# --no-healthcheck (compose.yaml disables it for its Socket Mode services).
# python's urllib because slim has no curl; no proxy, so HTTP(S)_PROXY cannot divert it.
HEALTHCHECK --interval=30s --timeout=5s --start-period=20s --retries=3 \
    CMD ["python", "-c", "import os, urllib.request as u; u.build_opener(u.ProxyHandler({})).open('http://127.0.0.1:' + os.environ.get('PORT', '3000') + '/healthz', timeout=4)"]

# Exec form: the bot is PID 1 and receives SIGTERM itself.
ENTRYPOINT ["stop-livestream-bot"]
CMD ["http"]
