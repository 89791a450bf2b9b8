#!/bin/sh
# Runs before uvicorn starts its workers, then becomes the command (exec), so
# uvicorn is PID 1 and receives the orchestrator's SIGTERM itself.
set -eu

# prometheus_client's multiprocess mode sums the files all workers write into
# PROMETHEUS_MULTIPROC_DIR. An emptyDir outlives a container restart, so files of
# the previous run would be summed in (e.g. an in-flight gauge stuck at the value
# it had when that process died). Start empty; the workers cannot do this
# themselves without wiping each other's files.
if [ -n "${PROMETHEUS_MULTIPROC_DIR:-}" ]; then
    mkdir -p "$PROMETHEUS_MULTIPROC_DIR"
    find "$PROMETHEUS_MULTIPROC_DIR" -mindepth 1 -delete
fi

# With several workers, uvicorn restarts a worker that fails to start, forever:
# a bad setting would leave a container that runs but never becomes ready. Check
# the settings once here (~2 s), so it exits at once naming the bad variable.
if [ "${1:-}" = "uvicorn" ]; then
    python -c 'import sys
from interlock.config import ConfigError, Settings
try:
    Settings.load()
except ConfigError as exc:
    sys.exit(str(exc))'
fi

exec "$@"
