# syntax=docker/dockerfile:1
# Every Shopfloor image, built with the repository root as context:
#   a service  docker build --build-arg SERVICE=catalog --build-arg PORT=8081 -t shopfloor/catalog .
#   the tools  docker build --target tools -t shopfloor/tools .    (the PostSync smoke Job runs it)
# `shopfloor images build` (make images, CodeBuild, kind) passes these arguments, with each port from
# the service's [tool.shopfloor] table; the release workflow gets them from `shopfloor changed`. What
# an image is made of is read from the COPY lines of its stages, so `shopfloor changed` rebuilds
# exactly the images a change touches. docs/ci-cd.md explains the layers.
# checkov:skip=CKV_DOCKER_7: FROM names the PYTHON_BASE build arg, which checkov cannot resolve; its
# default below is a version tag (Dependabot keeps it fresh) and release builds use it as is.
ARG PYTHON_BASE=python:3.11-slim-bookworm

# The hash-pinned build backend in a throw-away venv, and the runtime venv, made without pip.
FROM ${PYTHON_BASE} AS build-base
ENV PIP_DISABLE_PIP_VERSION_CHECK=1 PIP_NO_CACHE_DIR=1 PYTHONDONTWRITEBYTECODE=1
WORKDIR /src
COPY requirements/images/build.txt requirements/images/
RUN python3.11 -m venv /opt/build-tools \
 && /opt/build-tools/bin/pip install --require-hashes --no-deps -r requirements/images/build.txt \
 && python3.11 -m venv --without-pip /opt/venv

# A service: its hash-locked dependencies first, so a code change reuses that layer; then the
# shared library and the service as wheels, and the bytecode (the root filesystem is read-only at
# run time). `shopfloor-service` names the service's command, so CMD is the same for every service.
# Last, the CycloneDX SBOM of what /opt/venv holds (cyclonedx-py from the hash-locked build tools),
# kept in the image at /opt/sbom/python.cdx.json: `shopfloor images build` reads it back and checks
# it against the service's lock (docs/security.md).
FROM build-base AS service-build
ARG SERVICE
ARG PORT
RUN if [ -z "${SERVICE}" ] || [ -z "${PORT}" ]; then \
      echo "a service image needs --build-arg SERVICE=<folder under apps/> and --build-arg PORT=<its port>" >&2; \
      exit 1; \
    fi
COPY requirements/images/${SERVICE}.txt requirements/images/
RUN /opt/build-tools/bin/pip --python /opt/venv/bin/python install --require-hashes --no-deps \
      -r requirements/images/${SERVICE}.txt
COPY libs/shopfloor-common/pyproject.toml libs/shopfloor-common/
COPY libs/shopfloor-common/src libs/shopfloor-common/src
COPY apps/${SERVICE}/pyproject.toml apps/${SERVICE}/
COPY apps/${SERVICE}/src apps/${SERVICE}/src
RUN /opt/build-tools/bin/pip wheel --no-deps --no-build-isolation --wheel-dir /tmp/wheels \
      libs/shopfloor-common apps/${SERVICE} \
 && /opt/build-tools/bin/pip --python /opt/venv/bin/python install --no-deps /tmp/wheels/*.whl \
 && /opt/venv/bin/python -m compileall -q -j0 /opt/venv/lib \
 && ln -s "${SERVICE}" /opt/venv/bin/shopfloor-service \
 && mkdir /opt/sbom \
 && /opt/build-tools/bin/cyclonedx-py environment --pyproject apps/${SERVICE}/pyproject.toml \
      --output-reproducible --output-file /opt/sbom/python.cdx.json /opt/venv

# The tools: the repo CLI's base install, which is the standard library only (no lock to install).
FROM build-base AS tools-build
COPY tools/shopfloor/pyproject.toml tools/shopfloor/
COPY tools/shopfloor/src tools/shopfloor/src
RUN /opt/build-tools/bin/pip wheel --no-deps --no-build-isolation --wheel-dir /tmp/wheels tools/shopfloor \
 && /opt/build-tools/bin/pip --python /opt/venv/bin/python install --no-deps /tmp/wheels/*.whl \
 && /opt/venv/bin/python -m compileall -q -j0 /opt/venv/lib \
 && mkdir /opt/sbom \
 && /opt/build-tools/bin/cyclonedx-py environment --pyproject tools/shopfloor/pyproject.toml \
      --output-reproducible --output-file /opt/sbom/python.cdx.json /opt/venv

# What every image runs on: the base and a venv, no pip, no build backend, no compiler.
FROM ${PYTHON_BASE} AS runtime
ARG REVISION=unknown
ARG SOURCE=https://github.com/shopfloor/shopfloor
LABEL org.opencontainers.image.source="${SOURCE}" \
      org.opencontainers.image.revision="${REVISION}"
ENV PATH=/opt/venv/bin:$PATH \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    HOME=/tmp
# A numeric user, so Kubernetes can verify runAsNonRoot without reading /etc/passwd.
USER 10001:10001
WORKDIR /tmp

FROM runtime AS tools
LABEL org.opencontainers.image.title="shopfloor-tools" \
      org.opencontainers.image.description="The Shopfloor CLI's base install: shopfloor smoke (the PostSync Job)"
COPY --from=tools-build /opt/venv /opt/venv
COPY --from=tools-build /opt/sbom /opt/sbom
CMD ["shopfloor", "--help"]

# Last, so a build without --target makes a service image.
FROM runtime AS service
ARG SERVICE
ARG PORT
LABEL org.opencontainers.image.title="shopfloor-${SERVICE}" \
      org.opencontainers.image.description="Shopfloor ${SERVICE} service"
ENV HOST=0.0.0.0 \
    PORT=${PORT}
COPY --from=service-build /opt/venv /opt/venv
COPY --from=service-build /opt/sbom /opt/sbom
EXPOSE ${PORT}
HEALTHCHECK --interval=10s --timeout=3s --retries=3 \
  CMD ["python", "-c", "import os, urllib.request; urllib.request.urlopen(f\"http://127.0.0.1:{os.environ.get('MANAGEMENT_PORT') or os.environ['PORT']}/livez\", timeout=2)"]
CMD ["shopfloor-service", "serve"]
