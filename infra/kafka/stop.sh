#!/usr/bin/env bash
# Stop the Kafka node started by start.sh from KAFKA_DATA_DIR: SIGTERM (controlled shutdown), wait
# up to KAFKA_STOP_TIMEOUT seconds, then SIGKILL. Removes the pid file. Idempotent.
#
# Env knobs:
#   KAFKA_DATA_DIR       data dir of the node to stop        default <repo>/data/kafka
#   KAFKA_STOP_TIMEOUT   seconds to wait after SIGTERM       default 30
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
repo="$(cd "$here/../.." && pwd)"
data_dir="${KAFKA_DATA_DIR:-$repo/data/kafka}"
timeout_s="${KAFKA_STOP_TIMEOUT:-30}"

if [[ ! -d "$data_dir" ]]; then
  echo "Kafka not running (no data dir $data_dir)"
  exit 0
fi
data_dir="$(cd "$data_dir" && pwd)"
pid_file="$data_dir/kafka.pid"
props="$data_dir/server.properties"

pid=""
if [[ -f "$pid_file" ]]; then
  pid="$(cat "$pid_file")"
fi
# Only signal a live java process started on this data dir (the pid may have been reused).
if [[ ! "$pid" =~ ^[0-9]+$ ]] || ! kill -0 "$pid" 2>/dev/null ||
  ! tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null | grep -qF -- "$props"; then
  rm -f "$pid_file"
  echo "Kafka not running (data dir $data_dir)"
  exit 0
fi

kill -TERM "$pid" 2>/dev/null || true
deadline=$((SECONDS + timeout_s))
while kill -0 "$pid" 2>/dev/null && ((SECONDS < deadline)); do
  sleep 0.2
done
if kill -0 "$pid" 2>/dev/null; then
  echo "stop.sh: Kafka (pid $pid) still running after ${timeout_s}s, sending SIGKILL" >&2
  kill -KILL "$pid" 2>/dev/null || true
  while kill -0 "$pid" 2>/dev/null; do sleep 0.1; done
fi
rm -f "$pid_file"
echo "Kafka stopped (pid $pid)"
