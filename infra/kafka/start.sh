#!/usr/bin/env bash
# Start one Apache Kafka node (KRaft, combined broker + controller) on 127.0.0.1, in the background,
# and return once it answers Metadata requests. Runs fetch.sh first (a no-op once lib/ is filled).
#
# Env knobs:
#   KAFKA_PORT             client (PLAINTEXT) listener port            default 9092
#   KAFKA_CONTROLLER_PORT  KRaft controller listener port              default 9093
#   KAFKA_DATA_DIR         everything this node writes                 default <repo>/data/kafka
#   KAFKA_HEAP             JVM heap flags                              default "-Xms256m -Xmx768m"
#   KAFKA_JVM_OPTS         extra JVM flags (appended)                  default none
#   KAFKA_START_TIMEOUT    seconds to wait for the broker to answer    default 90
#   JAVA_HOME              Java 17+ to use (else `java` on PATH)
#
# Layout of the data dir:
#   server.properties   generated from server.properties.template on every start
#   cluster.id          the KRaft cluster id, chosen once at first format
#   kraft/              log.dirs: metadata log + topic partitions
#   logs/server.log     broker log (log4j2, see log4j2.properties); logs/kafka.out = JVM stdout/stderr
#   kafka.pid           pid of the running broker
#
# If a broker from this data dir is already running, says so and exits 0. If it does not answer in
# time, prints the tail of its log, stops it and exits 1.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
repo="$(cd "$here/../.." && pwd)"

port="${KAFKA_PORT:-9092}"
controller_port="${KAFKA_CONTROLLER_PORT:-9093}"
data_dir="${KAFKA_DATA_DIR:-$repo/data/kafka}"
heap="${KAFKA_HEAP:--Xms256m -Xmx768m}"
timeout_s="${KAFKA_START_TIMEOUT:-90}"
java="${JAVA_HOME:+$JAVA_HOME/bin/}java"

die() {
  echo "start.sh: $*" >&2
  exit 1
}

[[ "$port" =~ ^[0-9]+$ ]] || die "KAFKA_PORT must be a port number, got '$port'"
[[ "$controller_port" =~ ^[0-9]+$ ]] || die "KAFKA_CONTROLLER_PORT must be a port number, got '$controller_port'"
[[ "$port" != "$controller_port" ]] || die "KAFKA_PORT and KAFKA_CONTROLLER_PORT must differ"
command -v "$java" >/dev/null 2>&1 || die "java not found (need Java 17+; set JAVA_HOME)"

mkdir -p "$data_dir"
data_dir="$(cd "$data_dir" && pwd)"
pid_file="$data_dir/kafka.pid"
log_dir="$data_dir/logs"
kraft_dir="$data_dir/kraft"
props="$data_dir/server.properties"

# A pid counts as ours only if it is a live java process started on this data dir's properties.
running_pid() {
  [[ -f "$pid_file" ]] || return 1
  local pid
  pid="$(cat "$pid_file")"
  [[ "$pid" =~ ^[0-9]+$ ]] || return 1
  kill -0 "$pid" 2>/dev/null || return 1
  tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null | grep -qF -- "$props" || return 1
  echo "$pid"
}

if pid="$(running_pid)"; then
  echo "Kafka already running from $data_dir (pid $pid)"
  exit 0
fi
rm -f "$pid_file"

port_busy() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }
port_busy "$port" && die "127.0.0.1:$port is already in use by another process (set KAFKA_PORT)"
port_busy "$controller_port" && die "127.0.0.1:$controller_port is already in use by another process (set KAFKA_CONTROLLER_PORT)"

bash "$here/fetch.sh"
version="$(sed -n 's/^kafka=\([^ ]*\) .*/\1/p' "$here/lib/.fetched")"

started_ms="$(date +%s%3N)"
mkdir -p "$log_dir" "$kraft_dir"

# Render the template. Escape sed's special characters in the substituted path.
sed_escape() { printf '%s' "$1" | sed -e 's/[\\|&]/\\&/g'; }
sed -e "s|@KAFKA_PORT@|$port|g" \
  -e "s|@KAFKA_CONTROLLER_PORT@|$controller_port|g" \
  -e "s|@KAFKA_LOG_DIRS@|$(sed_escape "$kraft_dir")|g" \
  "$here/server.properties.template" >"$props"

classpath="$here/lib/*"
log_opts=(-Dlog4j2.configurationFile="$here/log4j2.properties" -Dkafka.logs.dir="$log_dir")

# Format the storage once; the cluster id stays in the data dir.
if [[ ! -f "$kraft_dir/meta.properties" ]]; then
  if [[ ! -s "$data_dir/cluster.id" ]]; then
    # A Kafka Uuid: 16 random bytes, base64url without padding; never starting with '-' (CLI-safe).
    while :; do
      cid="$(head -c 16 /dev/urandom | base64 | tr '+/' '-_' | tr -d '=\n')"
      [[ "$cid" != -* ]] && break
    done
    echo "$cid" >"$data_dir/cluster.id"
  fi
  # Static quorum (controller.quorum.voters in the properties), so no --standalone here.
  if ! "$java" -Xmx256m "${log_opts[@]}" -cp "$classpath" kafka.tools.StorageTool format \
    --cluster-id "$(cat "$data_dir/cluster.id")" --config "$props" >"$log_dir/format.out" 2>&1; then
    cat "$log_dir/format.out" >&2
    die "formatting storage in $kraft_dir failed"
  fi
fi

# shellcheck disable=SC2086 # KAFKA_HEAP and KAFKA_JVM_OPTS are word lists on purpose.
setsid nohup "$java" -server $heap \
  -XX:+UseG1GC -XX:MaxGCPauseMillis=20 -XX:InitiatingHeapOccupancyPercent=35 \
  -XX:+ExplicitGCInvokesConcurrent -Djava.awt.headless=true \
  "${log_opts[@]}" ${KAFKA_JVM_OPTS:-} \
  -cp "$classpath" kafka.Kafka "$props" \
  >"$log_dir/kafka.out" 2>&1 </dev/null &
pid=$!
echo "$pid" >"$pid_file"

# Wait until the broker answers a Metadata request (kafkajs admin, the client the app uses).
tsx="$repo/node_modules/.bin/tsx"
[[ -x "$tsx" ]] || tsx="npx --no-install tsx"
# shellcheck disable=SC2086
if ! $tsx "$here/wait-ready.ts" "127.0.0.1:$port" "$((timeout_s * 1000))" "$pid"; then
  echo "---- last lines of $log_dir/server.log ----" >&2
  tail -n 40 "$log_dir/server.log" >&2 2>/dev/null || true
  echo "---- last lines of $log_dir/kafka.out ----" >&2
  tail -n 20 "$log_dir/kafka.out" >&2 2>/dev/null || true
  KAFKA_DATA_DIR="$data_dir" bash "$here/stop.sh" >/dev/null 2>&1 || true
  die "Kafka did not become ready on 127.0.0.1:$port (timeout ${timeout_s}s; reason and log tail above)"
fi

elapsed_ms=$(($(date +%s%3N) - started_ms))
echo "Kafka $version ready on 127.0.0.1:$port (controller :$controller_port, pid $pid, data $data_dir) in $((elapsed_ms / 1000)).$((elapsed_ms % 1000 / 100))s"
