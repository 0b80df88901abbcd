# bhiv-bot: one image, SQLite in the /data volume by default (set DATABASE_URL for PostgreSQL).
FROM python:3.12-slim AS build
WORKDIR /src
COPY pyproject.toml README.md ./
COPY bot ./bot
COPY core ./core
COPY storage ./storage
RUN pip wheel --no-cache-dir --wheel-dir /wheels ".[postgres]"

FROM python:3.12-slim
ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    DATA_DIR=/data \
    OPS_PORT=9464
RUN useradd --system --uid 10001 --home-dir /data --shell /usr/sbin/nologin bhiv \
    && mkdir -p /data && chown bhiv /data
COPY --from=build /wheels /wheels
RUN pip install --no-cache-dir --no-index --find-links /wheels "bhiv-bot[postgres]" && rm -rf /wheels
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
