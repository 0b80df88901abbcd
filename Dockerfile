# bhiv-bot: one image, SQLite in the /data volume by default (set DATABASE_URL for PostgreSQL).
# The base is pinned to a Python release and a Debian release; to pin its bytes too, add the digest that
# `docker buildx imagetools inspect python:3.12.12-slim-bookworm` prints (python:3.12.12-slim-bookworm@sha256:...).
ARG PYTHON_IMAGE=python:3.12.12-slim-bookworm

FROM ${PYTHON_IMAGE} AS build
# Every dependency and the build backend come from the lock file, each checked against its hash; then bhiv-bot
# itself, alone, built with that backend.
RUN python -m venv /opt/bhiv
COPY docker/requirements.lock /tmp/requirements.lock
RUN /opt/bhiv/bin/pip install --no-cache-dir --require-hashes -r /tmp/requirements.lock
WORKDIR /src
COPY pyproject.toml README.md ./
COPY bot ./bot
COPY core ./core
COPY storage ./storage
RUN /opt/bhiv/bin/pip install --no-cache-dir --no-deps --no-build-isolation . && /opt/bhiv/bin/pip check

FROM ${PYTHON_IMAGE}
ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PATH=/opt/bhiv/bin:$PATH \
    DATA_DIR=/data \
    OPS_PORT=9464
# Fonts for the video cards, found through fontconfig: Latin and Cyrillic (DejaVu), Devanagari (Lohit).
RUN apt-get update \
    && apt-get install -y --no-install-recommends fontconfig fonts-dejavu-core fonts-lohit-deva \
    && rm -rf /var/lib/apt/lists/*
RUN useradd --system --uid 10001 --home-dir /data --shell /usr/sbin/nologin bhiv \
    && mkdir -p /data && chown bhiv /data
COPY --from=build /opt/bhiv /opt/bhiv
USER bhiv
VOLUME ["/data"]
# Webhook mode listens on 8443 when WEBHOOK_URL is set (polling needs no port). /healthz and /metrics stay on
# the container's loopback (OPS_LISTEN's default), where the healthcheck reads them; they have no auth, so a
# scraper from outside is an explicit OPS_LISTEN=0.0.0.0 on a private network.
EXPOSE 8443
HEALTHCHECK --interval=30s --timeout=5s --start-period=20s \
    CMD ["python", "-c", "import urllib.request; urllib.request.urlopen('http://127.0.0.1:9464/healthz', timeout=4)"]
# SIGTERM stops taking jobs, lets in-flight ones finish within SHUTDOWN_GRACE_S (8 s), requeues the rest.
STOPSIGNAL SIGTERM
ENTRYPOINT ["bhiv-bot"]
CMD ["run"]
