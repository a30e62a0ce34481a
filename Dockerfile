# syntax=docker/dockerfile:1
# transit-operator image: `docker build -t ghcr.io/transit-operator/transit-operator:$(version) .`
# The Helm chart's default image (charts/transit-operator, image.repository + appVersion) is this build.
#
# What goes in is declared once, and `scripts/dev image` (image/oci_build.py) builds the same image without a
# container engine from the same declarations:
#   - the Debian suite (ARG DEBIAN_SUITE) and image/debian-packages.txt (installed without Recommends);
#   - the package's wheel and image/requirements.txt (pinned dependencies, no resolver at build time);
#   - the runtime stage's USER, ENV, WORKDIR, EXPOSE, LABEL and ENTRYPOINT below (the builder reads them).
# tests/chart/test_image.py checks the invariants; tests/image builds and runs the image.
ARG DEBIAN_SUITE=bookworm

# --- base: Debian slim and the listed packages (Debian's python3) -----------------------------------------
FROM debian:${DEBIAN_SUITE}-slim AS base
COPY image/debian-packages.txt /tmp/debian-packages.txt
RUN apt-get update \
 && grep -v '^#' /tmp/debian-packages.txt | xargs apt-get install --yes --no-install-recommends \
 && rm -rf /var/lib/apt/lists/* /tmp/debian-packages.txt

# --- build: the wheel of this package, then a venv with it and the pinned dependencies -------------------
FROM base AS build
RUN apt-get update && apt-get install --yes --no-install-recommends python3-pip python3-venv
ENV PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PIP_NO_CACHE_DIR=1 \
    PYTHONDONTWRITEBYTECODE=1
WORKDIR /src
COPY pyproject.toml README.md ./
COPY operator ./operator
COPY image/requirements.txt ./image/requirements.txt
RUN python3 -m pip wheel --no-deps --wheel-dir /dist . \
 && python3 -m venv /opt/venv \
 && /opt/venv/bin/pip install --no-deps --only-binary=:all: -r image/requirements.txt \
 && /opt/venv/bin/pip install --no-deps /dist/*.whl \
 && /opt/venv/bin/pip uninstall --yes pip setuptools \
 && /opt/venv/bin/python -m compileall -q --invalidation-mode unchecked-hash /opt/venv/lib

# --- runtime: the base, the venv, no build tools, non-root -----------------------------------------------
FROM base AS runtime
LABEL org.opencontainers.image.title="transit-operator" \
      org.opencontainers.image.description="Databricks Serverless private connectivity to Confluent Cloud on Azure" \
      org.opencontainers.image.licenses="Apache-2.0" \
      org.opencontainers.image.source="https://github.com/transit-operator/transit-operator"
# The venv's python is a symlink to the base's /usr/bin/python3, hence the same base in both stages.
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
