# syntax=docker/dockerfile:1
#
# The export-control monitor's daemon (`monitor run`) as a small, non-root image.
#
#   docker build -t export-control-monitor:0.1.0 .
#   docker run -d --name monitor -p 127.0.0.1:8080:8080 -v monitor-state:/state export-control-monitor:0.1.0
#
# Stage "build" installs every dependency at the version and sha256 of requirements.lock into the
# virtualenv /opt/venv, makes a wheel of the project (package data included: monitor/data/*.toml,
# the built-in catalog and gazetteer) with the setuptools of requirements-build.lock, and installs
# it there without dependencies; the final stage copies only that virtualenv onto the same base
# image. Both stages must use the same base image: the virtualenv points at its
# /usr/local/bin/python3.11. Build arguments (all optional; `make image` sets them): VERSION,
# GIT_COMMIT and LOCK_SHA256, recorded as labels. See README.md, section "Docker".

FROM python:3.11-slim-bookworm AS build

WORKDIR /src

# The locks first, so the dependency layer is rebuilt only when a lock changes.
COPY requirements.lock requirements-build.lock ./

# The venv is made without pip and the base image's pip installs into it (--python). Hash-checking
# mode (--require-hashes): pip installs only the files the lock names, by sha256, and refuses any
# dependency the lock does not pin. The build backend goes into the build stage's own Python. The
# lock is kept in the venv: the image says what it was installed from (`monitor --version`).
RUN python -m venv --without-pip /opt/venv \
 && python -m pip --python /opt/venv/bin/python install --no-cache-dir --disable-pip-version-check --root-user-action=ignore --require-hashes -r requirements.lock \
 && python -m pip install --no-cache-dir --disable-pip-version-check --root-user-action=ignore --require-hashes -r requirements-build.lock \
 && cp requirements.lock /opt/venv/requirements.lock

# Only what the wheel needs: pyproject.toml names README.md as the long description.
COPY pyproject.toml README.md ./
COPY monitor/ ./monitor/

# A LOCK_SHA256 given to the build must be the lock's, or the label would lie. The wheel installs
# with --no-deps: its dependencies are the lock's, and `pip check` fails the build if they do not
# satisfy pyproject.toml. The last commands fail the build if the package data were left out of
# the wheel or the console script does not start.
ARG LOCK_SHA256=unknown
RUN python -c "import hashlib, sys; want = sys.argv[1]; got = hashlib.sha256(open('requirements.lock', 'rb').read()).hexdigest(); sys.exit(want not in ('unknown', got) and f'LOCK_SHA256 {want} is not the sha256 of requirements.lock ({got})')" "${LOCK_SHA256}" \
 && python -m pip wheel --no-cache-dir --disable-pip-version-check --no-deps --no-build-isolation --wheel-dir /wheels . \
 && python -m pip --python /opt/venv/bin/python install --no-cache-dir --disable-pip-version-check --root-user-action=ignore --no-deps /wheels/export_control_monitor-*.whl \
 && python -m pip --python /opt/venv/bin/python check \
 && /opt/venv/bin/python -c "from importlib.resources import files; d = files('monitor') / 'data'; assert (d / 'catalog.toml').is_file() and (d / 'gazetteer.toml').is_file(), 'package data missing'" \
 && /opt/venv/bin/monitor --help > /dev/null \
 && /opt/venv/bin/monitor --version


FROM python:3.11-slim-bookworm

# A fixed, non-root UID/GID (10001) that owns /state, so a bind-mounted state directory can be
# prepared on the host with `chown 10001:10001`. It must exist before VOLUME: a new named volume
# is initialised from the image's /state, ownership included.
RUN groupadd --system --gid 10001 monitor \
 && useradd --system --no-log-init --uid 10001 --gid 10001 --home-dir /nonexistent --no-create-home \
        --shell /usr/sbin/nologin monitor \
 && mkdir -p /state /config/local \
 && chown 10001:10001 /state \
 && chmod 0750 /state

COPY --from=build /opt/venv /opt/venv
# The default configuration, so the image runs with no mount; mounting a directory on /config
# replaces it (it must then hold sources.toml).
COPY sources.toml /config/sources.toml

ENV PATH="/opt/venv/bin:${PATH}" \
    VIRTUAL_ENV=/opt/venv \
    PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    MONITOR_CONFIG=/config/sources.toml \
    MONITOR_STATE=/state \
    MONITOR_LISTEN=0.0.0.0:8080

VOLUME ["/state"]
WORKDIR /state
USER 10001:10001
EXPOSE 8080

# The daemon exits 0 on SIGTERM within 10 s (give `docker stop` a longer timeout than that).
STOPSIGNAL SIGTERM

# GET /healthz on the port of MONITOR_LISTEN (a wildcard host is asked on loopback); healthy only
# on HTTP 200. No curl in the image: the standard library does it, with a timeout.
HEALTHCHECK --interval=30s --timeout=5s --start-period=30s --retries=3 \
    CMD ["python", "-c", "import os, sys, urllib.request\nhost, _, port = os.environ.get('MONITOR_LISTEN', '0.0.0.0:8080').rpartition(':')\nhost = {'': '127.0.0.1', '0.0.0.0': '127.0.0.1', '::': '[::1]', '[::]': '[::1]'}.get(host, host)\ntry:\n    status = urllib.request.urlopen(f'http://{host}:{port}/healthz', timeout=4).status\nexcept Exception as exc:\n    sys.exit(f'unhealthy: {exc}')\nsys.exit(0 if status == 200 else f'unhealthy: HTTP {status}')\n"]

# What this image is, for `docker inspect` and for an audit: the version, the commit and the sha256
# of requirements.lock (the lock itself is /opt/venv/requirements.lock). Last, so a new commit
# rebuilds no layer. `monitor --version` prints the same (the commit from MONITOR_GIT_COMMIT).
ARG VERSION=0.1.0
ARG GIT_COMMIT=unknown
ARG LOCK_SHA256=unknown
LABEL org.opencontainers.image.title="export-control-monitor" \
      org.opencontainers.image.description="Regulatory change monitor for export controls on AI chips and cloud computing" \
      org.opencontainers.image.version="${VERSION}" \
      org.opencontainers.image.revision="${GIT_COMMIT}" \
      org.opencontainers.image.licenses="Apache-2.0" \
      org.opencontainers.image.base.name="docker.io/library/python:3.11-slim-bookworm" \
      export-control-monitor.lock.sha256="${LOCK_SHA256}"
ENV MONITOR_GIT_COMMIT="${GIT_COMMIT}"

ENTRYPOINT ["monitor"]
CMD ["run"]
