#!/bin/sh
# flowscope-mesh.sh: test this host's peers on a schedule, one round at a
# time. Each round runs one flowscope client against every peer at once
# (--targets) and appends the round's JSON document to a file, as
# flowscope-mesh.service does. The peers' servers
# (`flowscope -s --metrics :9709`) count what they received, and
# Prometheus collects that from them: this loop needs nothing else.
#
# Settings (environment):
#   PEERS           file of peers, one HOST[:PORT] per line (/etc/flowscope/peers)
#   DURATION        seconds per test (10)
#   INTERVAL        seconds from the end of one round to the next (300)
#   JITTER          a random 0..JITTER seconds before each round (0), so the
#                   hosts of a mesh do not all start in the same second
#   OUT             file each round's JSON document is appended to, e.g.
#                   /var/log/flowscope/rounds.json (jq -s reads them all);
#                   empty: standard output
#   FLOWSCOPE       the flowscope binary (flowscope on PATH)
#   FLOWSCOPE_ARGS  more client options, e.g. "-P 4 --bidir" ("")
#   AUTH_KEY_FILE   the peers' pre-shared key (--auth-key-file), if they
#                   require one ("")
#   ONCE            1: run one round and exit with flowscope's status
set -eu

PEERS=${PEERS:-/etc/flowscope/peers}
DURATION=${DURATION:-10}
INTERVAL=${INTERVAL:-300}
JITTER=${JITTER:-0}
OUT=${OUT:-}
FLOWSCOPE=${FLOWSCOPE:-flowscope}
FLOWSCOPE_ARGS=${FLOWSCOPE_ARGS:-}
AUTH_KEY_FILE=${AUTH_KEY_FILE:-}
ONCE=${ONCE:-0}

die() { echo "flowscope-mesh: $*" >&2; exit 2; }
[ -r "$PEERS" ] || die "cannot read the peers file $PEERS (set PEERS)"
for v in DURATION INTERVAL JITTER; do
  eval "val=\$$v"
  case $val in ''|*[!0-9]*) die "$v=$val is not a whole number of seconds" ;; esac
done
[ -z "$OUT" ] || [ -d "$(dirname -- "$OUT")" ] || die "OUT=$OUT: no directory $(dirname -- "$OUT")"
[ -z "$OUT" ] || [ ! -d "$OUT" ] || die "OUT=$OUT is a directory; name the file to append to"
[ -z "$AUTH_KEY_FILE" ] || [ -r "$AUTH_KEY_FILE" ] || die "cannot read AUTH_KEY_FILE=$AUTH_KEY_FILE"
command -v "$FLOWSCOPE" >/dev/null 2>&1 || die "no flowscope binary: $FLOWSCOPE (set FLOWSCOPE)"

trap 'exit 0' INT TERM
while :; do
  if [ "$JITTER" -gt 0 ]; then
    sleep $(( $(od -An -N2 -tu2 /dev/urandom) % (JITTER + 1) ))
  fi
  stamp=$(date -u +%Y%m%dT%H%M%SZ)
  rc=0
  set -- --targets "$PEERS" -t "$DURATION" -J
  [ -z "$OUT" ] || set -- "$@" --logfile "$OUT"
  [ -z "$AUTH_KEY_FILE" ] || set -- "$@" --auth-key-file "$AUTH_KEY_FILE"
  # shellcheck disable=SC2086 # FLOWSCOPE_ARGS is a list of options
  "$FLOWSCOPE" "$@" $FLOWSCOPE_ARGS || rc=$?
  [ "$rc" -eq 0 ] || echo "flowscope-mesh: round $stamp: flowscope exited $rc (a peer failed; see its \"error\")" >&2
  [ "$ONCE" = 1 ] && exit "$rc"
  sleep "$INTERVAL"
done
