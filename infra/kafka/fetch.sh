#!/usr/bin/env bash
# Fetch the Apache Kafka jars (broker, tools, logging backend) into infra/kafka/lib/ with Maven.
#
# Idempotent: lib/.fetched records the Kafka version and a hash of pom.xml; when both match, this
# does nothing (no Maven, no network). Otherwise lib/ is emptied and refilled from Maven Central
# (or the local ~/.m2 cache). Safe to run from any directory and from several processes at once.
#
# Env:
#   MVN   Maven command (default: mvn)
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
pom="$here/pom.xml"
lib="$here/lib"
marker="$lib/.fetched"

version="$(sed -n 's:.*<kafka.version>\(.*\)</kafka.version>.*:\1:p' "$pom" | head -n1)"
if [[ -z "$version" ]]; then
  echo "fetch.sh: cannot read <kafka.version> from $pom" >&2
  exit 1
fi
want="kafka=$version pom=$(sha256sum "$pom" | cut -d' ' -f1)"

is_fresh() {
  [[ -f "$marker" && "$(cat "$marker")" == "$want" && -f "$lib/kafka_2.13-$version.jar" ]]
}

is_fresh && exit 0

mkdir -p "$lib"
# Serialise concurrent fetches (a dev shell and a test run, say).
exec 9>"$lib/.lock"
flock 9
is_fresh && exit 0

if ! command -v "${MVN:-mvn}" >/dev/null 2>&1; then
  echo "fetch.sh: Maven ('${MVN:-mvn}') not found; install Maven 3.8+ and Java 17+" >&2
  exit 1
fi

echo "fetch.sh: fetching Apache Kafka $version jars into $lib (Maven) ..." >&2
find "$lib" -maxdepth 1 -type f -name '*.jar' -delete
rm -f "$marker"
# Maven 3.8 prints bare ANSI reset codes even with -q -B, so keep its output in a log and show it
# (escape codes stripped) only when it fails.
mvn_log="$(mktemp)"
trap 'rm -f "$mvn_log"' EXIT
if ! "${MVN:-mvn}" -q -B -Dstyle.color=never -f "$pom" process-resources >"$mvn_log" 2>&1; then
  sed 's/\x1b\[[0-9;]*m//g' "$mvn_log" >&2
  echo "fetch.sh: Maven failed (see above)" >&2
  exit 1
fi
if [[ ! -f "$lib/kafka_2.13-$version.jar" ]]; then
  echo "fetch.sh: Maven finished but $lib/kafka_2.13-$version.jar is missing" >&2
  exit 1
fi
printf '%s\n' "$want" >"$marker"
echo "fetch.sh: $(find "$lib" -maxdepth 1 -name '*.jar' | wc -l) jars ready" >&2
