# syntax=docker/dockerfile:1
#
# One image for all five processes; the command picks the process:
#
#   python -m gateway                      HTTP gateway on OAUTH2_PORT (8080)
#   python -m services.<name> [serve]      gRPC service: authorize | token | clients | admin
#   python -m services.<name> migrate      apply that service's migrations, then exit
#
# One image rather than five: the processes share every dependency and the `common`
# package, so five images would be five copies of the same layers; one tag deployed
# everywhere also means the gateway and the services can never run mismatched
# generated protobuf code. docker-compose.yml and deploy/k8s use the `runtime` target.
#
# The runtime stage writes nothing outside /tmp (PYTHONDONTWRITEBYTECODE; bytecode is
# compiled at build time), runs as uid/gid 10001 and works with a read-only root
# filesystem (Kubernetes readOnlyRootFilesystem, compose read_only) and /tmp mounted
# as an emptyDir or tmpfs.

ARG PYTHON_IMAGE=python:3.11-slim-bookworm

# ---------------------------------------------------------------------------- builder
FROM ${PYTHON_IMAGE} AS builder

ENV PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PYTHONDONTWRITEBYTECODE=1

# A compiler only for the rare platform without a wheel (asyncpg, argon2-cffi,
# uvloop, httptools ship manylinux wheels for amd64 and arm64); it stays in this stage.
RUN apt-get update \
    && apt-get install -y --no-install-recommends build-essential \
    && rm -rf /var/lib/apt/lists/*

RUN python -m venv /opt/venv
ENV PATH=/opt/venv/bin:$PATH

# Dependencies first, from the lock file alone (the same one `make run` installs from),
# so that a code change reuses this layer: exact versions, each wheel checked against its
# hash, nothing resolved at build time. The lock holds only what running needs
# (grpcio-tools, which generates protos/ at development time, is in requirements/dev.txt).
WORKDIR /build
COPY requirements/runtime.txt ./
RUN pip install --upgrade pip \
    && pip install --no-deps --require-hashes -r runtime.txt

# The source tree is run in place from /app (PYTHONPATH), not installed as a wheel:
# the per-service migrations/ folders are not Python packages and would be left out.
WORKDIR /app
COPY common/ common/
COPY gateway/ gateway/
COPY services/ services/
COPY oauth2ctl/ oauth2ctl/
COPY protos/ protos/
RUN python -m compileall -q -j 0 /app
# The console script pip would have written for `oauth2ctl` (pyproject.toml), so that
# `kubectl exec deploy/admin -- oauth2ctl bootstrap` works.
RUN printf '%s\n' '#!/opt/venv/bin/python' 'import sys' 'from oauth2ctl.cli import main' \
        'sys.exit(main())' > /opt/venv/bin/oauth2ctl \
    && chmod 0755 /opt/venv/bin/oauth2ctl

# ---------------------------------------------------------------------------- runtime
FROM ${PYTHON_IMAGE} AS runtime

LABEL org.opencontainers.image.title="oauth2-server" \
      org.opencontainers.image.description="OAuth 2.1 / OpenID Connect server: gateway and gRPC services" \
      org.opencontainers.image.licenses="Apache-2.0"

# A numeric uid so that Kubernetes can check runAsNonRoot without a passwd lookup;
# the passwd entry exists for tools that ask for a user name.
RUN groupadd --system --gid 10001 oauth2 \
    && useradd --system --uid 10001 --gid 10001 --no-create-home \
       --home-dir /tmp --shell /usr/sbin/nologin oauth2

COPY --from=builder /opt/venv /opt/venv
COPY --from=builder /app /app

ENV PATH=/opt/venv/bin:$PATH \
    PYTHONPATH=/app:/app/protos \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    HOME=/tmp \
    OAUTH2_DATA_DIR=/tmp/oauth2 \
    OAUTH2_HOST=0.0.0.0 \
    OAUTH2_GRPC_HOST=0.0.0.0

WORKDIR /app
USER 10001:10001

# 8080 gateway HTTP, 8081 its admin listener; 50051-50054 authorize, token, clients, admin gRPC;
# 9100 metrics.
EXPOSE 8080 8081 50051 50052 50053 50054 9100

# No HEALTHCHECK: the same image runs an HTTP process and four gRPC processes, so the
# check belongs to whoever picks the process (compose healthcheck, Kubernetes probes).
CMD ["python", "-m", "gateway"]
