#!/usr/bin/env bash
# Make sure the local Docker daemon answers; start dockerd in the background if it does not.
# Idempotent. A DOCKER_HOST naming another daemon is not ours to start: only checked.
set -euo pipefail
DOCKER=${DOCKER:-docker}
LOG=${DOCKERD_LOG:-/var/log/minikube8s-dockerd.log}
"$DOCKER" version >/dev/null 2>&1 && exit 0
case ${DOCKER_HOST:-unix:///var/run/docker.sock} in
    unix:///var/run/docker.sock) ;;
    *) echo "dockerd-up: the Docker daemon at $DOCKER_HOST does not answer" >&2; exit 1 ;;
esac
if [ "$(id -u)" != 0 ]; then
    echo "dockerd-up: dockerd is not running (start it as root: dockerd &)" >&2
    exit 1
fi
echo "dockerd-up: starting dockerd (log: $LOG)" >&2
# setsid: dockerd outlives `make`; the daemon's own pidfile keeps a second start from racing.
setsid dockerd >>"$LOG" 2>&1 < /dev/null &
for _ in $(seq 1 150); do
    "$DOCKER" version >/dev/null 2>&1 && exit 0
    sleep 0.2
done
echo "dockerd-up: dockerd did not answer within 30 s; see $LOG" >&2
exit 1
