# syntax=docker/dockerfile:1
#
# The export-control monitor's daemon (`monitor run`) as a small, non-root image.
#
#   docker build -t export-control-monitor:0.1.0 .
#   docker run -d --name monitor -p 127.0.0.1:8080:8080 -v monitor-state:/state export-control-monitor:0.1.0
#
# Stage "build" makes a wheel of the project (package data included: monitor/data/*.toml, the
# built-in catalog and gazetteer) and installs it with its dependencies into the virtualenv
# /opt/venv; the final stage copies only that virtualenv onto the same base image. Both stages
# must use the same base image: the virtualenv points at its /usr/local/bin/python3.11.
# See README.md, section "Docker".

FROM python:3.11-slim-bookworm AS build

WORKDIR /src

# Only what the wheel needs: pyproject.toml names README.md as the long description.
COPY pyproject.toml README.md ./
COPY monitor/ ./monitor/

# The venv is made without pip and the base image's pip installs into it (--python), so /opt/venv
# holds only the project and its dependencies. The last two commands fail the build if the
# package data were left out of the wheel or the console script does not start.
RUN python -m venv --without-pip /opt/venv \
 && python -m pip wheel --no-cache-dir --disable-pip-version-check --no-deps --wheel-dir /wheels . \
 && python -m pip --python /opt/venv/bin/python install --no-cache-dir --disable-pip-version-check --root-user-action=ignore /wheels/export_control_monitor-*.whl \
 && /opt/venv/bin/python -c "from importlib.resources import files; d = files('monitor') / 'data'; assert (d / 'catalog.toml').is_file() and (d / 'gazetteer.toml').is_file(), 'package data missing'" \
 && /opt/venv/bin/monitor --help > /dev/null


FROM python:3.11-slim-bookworm

ARG VERSION=0.1.0
LABEL org.opencontainers.image.title="export-control-monitor" \
      org.opencontainers.image.description="Regulatory change monitor for export controls on AI chips and cloud computing" \
      org.opencontainers.image.version="${VERSION}" \
      org.opencontainers.image.licenses="Apache-2.0" \
      org.opencontainers.image.base.name="docker.io/library/python:3.11-slim-bookworm"

# A fixed, non-root UID/GID (10001) that owns /state, so a bind-mounted state directory can be
# prepared on the host with `chown 10001:10001`. It must exist before VOLUME: a new named volume
# is initialised from the image's /state, ownership included.
RUN groupadd --system --gid 10001 monitor \
 && useradd --system --no-log-init --uid 10001 --gid 10001 --home-dir /nonexistent --no-create-home \
        --shell /usr/sbin/nologin monitor \
 && mkdir -p /state /config \
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

ENTRYPOINT ["monitor"]
CMD ["run"]
