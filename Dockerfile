# naftiko-runtime: serve the capability files found in /capabilities (REST 8080 and MCP 9090 for the
# Polytomic files). Mount your own files over /capabilities, or build FROM this image and COPY them in.
#
#   docker build -t naftiko-runtime .
#   docker run --rm -p 8080:8080 -p 9090:9090 -e POLYTOMIC_API_KEY naftiko-runtime
#   docker run ... naftiko-runtime --workers 2 --base-uri NS=URL   # extra `naftiko serve` options

FROM docker.io/library/python:3.12-slim-bookworm AS build
WORKDIR /src
COPY pyproject.toml README.md ./
COPY naftiko_runtime ./naftiko_runtime
# Every optional feature by default, since the mounted files may use any; `--build-arg EXTRAS=` builds
# the core alone (a file that needs an extra is then refused at load, naming it).
ARG EXTRAS=all
RUN python -m venv /opt/naftiko && /opt/naftiko/bin/pip install --no-cache-dir ".${EXTRAS:+[$EXTRAS]}"

FROM docker.io/library/python:3.12-slim-bookworm
RUN useradd --system --uid 10001 --no-create-home --shell /usr/sbin/nologin naftiko
COPY --from=build /opt/naftiko /opt/naftiko
COPY capabilities/ /capabilities/
ENV PATH=/opt/naftiko/bin:$PATH \
    PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    NAFTIKO_CAPABILITIES=/capabilities \
    NAFTIKO_HEALTH_PORT=8080 \
    NAFTIKO_LOAD_CACHE=/var/cache/naftiko
# The load cache (D172) prepared as compileall prepares bytecode: the shipped files' parse, shape
# check and translation, in a folder only the serving user can write (files mounted later add theirs).
RUN naftiko validate /capabilities >/dev/null && chown -R 10001:10001 /var/cache/naftiko
USER 10001:10001
EXPOSE 8080 9090
# Alive = any HTTP answer on the REST port, a 404 problem included (there is no control adapter yet).
HEALTHCHECK --interval=15s --timeout=3s --start-period=10s --retries=3 \
    CMD ["python", "-c", "import http.client, os; c = http.client.HTTPConnection('127.0.0.1', int(os.environ['NAFTIKO_HEALTH_PORT']), timeout=2); c.request('GET', '/'); c.getresponse()"]
# `naftiko serve` takes files, not yet a folder: the shell expands the glob. Listening on every
# interface is deliberate here (D34): the container's network is the boundary. `exec` makes
# naftiko PID 1, so SIGTERM from `docker stop` or Kubernetes drains in-flight requests.
ENTRYPOINT ["sh", "-c", "exec naftiko serve --host 0.0.0.0 \"$@\" \"$NAFTIKO_CAPABILITIES\"/*.y*ml", "naftiko"]
CMD []
