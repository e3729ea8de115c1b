# respq worker image (also runs `respq serve`, mockapi and the respq CLI).
#   docker build -t respq:local .
#   docker run --rm -e RESPQ_REDIS_URL=redis://host:6379/0 -e RESPQ_API_KEY respq:local

# The dashboard's charting library (uPlot, pinned in package-lock.json), fetched in a stage
# of its own: the image gets its two files, not Node.
FROM node:20-slim AS assets
WORKDIR /src
COPY package.json package-lock.json ./
COPY scripts/vendor-assets scripts/
RUN scripts/vendor-assets

FROM python:3.11-slim

ENV PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PIP_NO_INPUT=1

RUN groupadd --system --gid 10001 respq \
    && useradd --system --uid 10001 --gid respq --home-dir /app --no-create-home \
        --shell /usr/sbin/nologin respq

# Build from a scratch directory and delete it: what runs is the installed package.
WORKDIR /src
COPY pyproject.toml README.md ./
# respq/ holds the package root and links to the folders below, which install as respq.*
COPY respq/ respq/
COPY contract/ contract/
COPY producer/ producer/
COPY worker/ worker/
COPY mockapi/ mockapi/
COPY server/ server/
COPY --from=assets /src/server/static/vendor/ server/static/vendor/
RUN pip install --no-cache-dir '.[all]' \
    && rm -rf /src

WORKDIR /app
COPY examples/ examples/
# The API server's files directory; a named volume mounted here inherits this owner.
RUN mkdir -p /data/files && chown respq:respq /data/files

USER respq

# arq's health check reads the key a running worker refreshes every 10 s
# (<queue>:health-check); it uses the same RESPQ_* environment as the worker.
HEALTHCHECK --interval=30s --timeout=10s --start-period=20s --retries=3 \
    CMD ["arq", "respq.worker.WorkerSettings", "--check"]

# SIGTERM lets in-flight requests finish for RESPQ_SHUTDOWN_GRACE seconds (default 30).
STOPSIGNAL SIGTERM
CMD ["arq", "respq.worker.WorkerSettings"]
