# syntax=docker/dockerfile:1
# transit-operator image: `docker build -t ghcr.io/transit-operator/transit-operator:$(version) .`
# The Helm chart's default image (charts/transit-operator, image.repository + appVersion) is this build.
#
# The base is pinned by full version tag. Pin it by digest too where you build
# (python:3.11.14-slim-bookworm@sha256:...): the digest could not be resolved where this file was written,
# and a guessed digest is worse than none. tests/chart/test_image.py checks the invariants below.
ARG PYTHON_IMAGE=python:3.11.14-slim-bookworm

# --- build: the wheel of this package, then a venv with it and its dependencies ---------------------------
FROM ${PYTHON_IMAGE} AS build
ENV PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PIP_NO_CACHE_DIR=1 \
    PYTHONDONTWRITEBYTECODE=1
WORKDIR /src
COPY pyproject.toml README.md ./
COPY operator ./operator
RUN python -m pip wheel --no-deps --wheel-dir /dist . \
 && python -m venv /opt/venv \
 && /opt/venv/bin/pip install /dist/*.whl \
 && /opt/venv/bin/pip uninstall --yes pip \
 && /opt/venv/bin/python -m compileall -q /opt/venv/lib

# --- runtime: the same Python, the venv, no build tools, non-root ------------------------------------------
FROM ${PYTHON_IMAGE} AS runtime
LABEL org.opencontainers.image.title="transit-operator" \
      org.opencontainers.image.description="Databricks Serverless private connectivity to Confluent Cloud on Azure" \
      org.opencontainers.image.licenses="Apache-2.0" \
      org.opencontainers.image.source="https://github.com/transit-operator/transit-operator"
# The venv's python is a symlink to this base image's /usr/local/bin/python3.11, hence the same base.
COPY --from=build /opt/venv /opt/venv
# HOME: uid 65532 has no passwd entry and the root filesystem is read-only in the chart; /tmp is writable.
ENV PATH=/opt/venv/bin:$PATH \
    HOME=/tmp \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1
# 65532: the conventional "nonroot" uid/gid (distroless); numeric so runAsNonRoot can verify it.
USER 65532:65532
WORKDIR /tmp
EXPOSE 8080 9090
ENTRYPOINT ["transit-operator", "run"]
