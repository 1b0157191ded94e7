# syntax=docker/dockerfile:1
# The FinNexus operator image. Build: `make image` (docker, or podman --isolation chroot).
#   docker build --build-arg PYTHON_IMAGE=python:3.12-slim-bookworm -t finnexus-operator:dev .
# Two stages: the build stage makes a virtualenv with the project and its wheels; the final
# stage copies only that virtualenv onto a fresh slim base (no compilers, no pip cache, no
# sources) and runs as a numeric non-root user, so `runAsNonRoot` can verify it.

ARG PYTHON_IMAGE=python:3.11-slim-bookworm

FROM ${PYTHON_IMAGE} AS build
ENV PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PYTHONDONTWRITEBYTECODE=1
WORKDIR /src
RUN python -m venv /opt/finnexus
ENV PATH=/opt/finnexus/bin:$PATH
COPY pyproject.toml README.md ./
COPY finnexus_operator ./finnexus_operator
# Binary wheels only: a dependency that would need a compiler fails the build here
# instead of smuggling a toolchain into the image.
RUN pip install --no-cache-dir --only-binary=:all: --no-compile . \
 && python -m compileall -q /opt/finnexus/lib

FROM ${PYTHON_IMAGE} AS runtime
ARG VERSION=0.1.0
ARG REVISION=unknown
ARG CREATED=unknown
LABEL org.opencontainers.image.title="finnexus-operator" \
      org.opencontainers.image.description="Kubernetes operator for safe blue-green releases: health checks, an Ingress flip, Prometheus-gated promotion and automatic rollback." \
      org.opencontainers.image.version="${VERSION}" \
      org.opencontainers.image.revision="${REVISION}" \
      org.opencontainers.image.created="${CREATED}" \
      org.opencontainers.image.source="https://github.com/finnexus/finnexus-operator" \
      org.opencontainers.image.licenses="Apache-2.0" \
      org.opencontainers.image.vendor="FinNexus"
ENV PATH=/opt/finnexus/bin:$PATH \
    PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    FINNEXUS_LOG_FORMAT=json
COPY --from=build /opt/finnexus /opt/finnexus
USER 65532:65532
EXPOSE 8080 8081
ENTRYPOINT ["finnexus-operator", "run"]
