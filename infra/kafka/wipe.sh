#!/usr/bin/env bash
# Stop the Kafka node of KAFKA_DATA_DIR (see stop.sh), then delete that data dir: topics, offsets,
# cluster id and logs. The next start.sh formats a fresh cluster.
#
# Env knobs:
#   KAFKA_DATA_DIR   data dir to wipe   default <repo>/data/kafka
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
repo="$(cd "$here/../.." && pwd)"
data_dir="${KAFKA_DATA_DIR:-$repo/data/kafka}"

bash "$here/stop.sh"

if [[ ! -e "$data_dir" ]]; then
  echo "Nothing to wipe ($data_dir does not exist)"
  exit 0
fi
data_dir="$(cd "$data_dir" && pwd)"
# Refuse anything that does not look like a data dir made by start.sh.
case "$data_dir" in
  / | "$HOME" | "$repo" | "$repo/data") echo "wipe.sh: refusing to delete $data_dir" >&2 && exit 1 ;;
esac
if [[ -n "$(ls -A "$data_dir")" && ! -f "$data_dir/server.properties" && ! -d "$data_dir/kraft" ]]; then
  echo "wipe.sh: $data_dir does not look like a Kafka data dir made by start.sh; not deleting" >&2
  exit 1
fi
rm -rf -- "$data_dir"
echo "Wiped $data_dir"
