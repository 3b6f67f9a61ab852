#!/bin/sh
# flowscope-mesh.sh: test this host's peers on a schedule, one round at a
# time. Each round runs one flowscope client against every peer at once
# (--targets) and writes the round's JSON document. The peers' servers
# (`flowscope -s --metrics :9090`) count what they received, and
# Prometheus collects that from them: this loop needs nothing else.
#
# Settings (environment):
#   PEERS           file of peers, one HOST[:PORT] per line (/etc/flowscope/peers)
#   DURATION        seconds per test (10)
#   INTERVAL        seconds from the end of one round to the next (300)
#   JITTER          a random 0..JITTER seconds before each round (0), so the
#                   hosts of a mesh do not all start in the same second
#   OUT             directory for one JSON document per round
#                   (flowscope-<UTC time>.json); empty: standard output
#   FLOWSCOPE       the flowscope binary (flowscope on PATH)
#   FLOWSCOPE_ARGS  more client options, e.g. "-P 4 --bidir" ("")
#   ONCE            1: run one round and exit with flowscope's status
set -eu

PEERS=${PEERS:-/etc/flowscope/peers}
DURATION=${DURATION:-10}
INTERVAL=${INTERVAL:-300}
JITTER=${JITTER:-0}
OUT=${OUT:-}
FLOWSCOPE=${FLOWSCOPE:-flowscope}
FLOWSCOPE_ARGS=${FLOWSCOPE_ARGS:-}
ONCE=${ONCE:-0}

die() { echo "flowscope-mesh: $*" >&2; exit 2; }
[ -r "$PEERS" ] || die "cannot read the peers file $PEERS (set PEERS)"
for v in DURATION INTERVAL JITTER; do
  eval "val=\$$v"
  case $val in ''|*[!0-9]*) die "$v=$val is not a whole number of seconds" ;; esac
done
[ -z "$OUT" ] || [ -d "$OUT" ] || die "OUT=$OUT is not a directory"
command -v "$FLOWSCOPE" >/dev/null 2>&1 || die "no flowscope binary: $FLOWSCOPE (set FLOWSCOPE)"

trap 'exit 0' INT TERM
while :; do
  if [ "$JITTER" -gt 0 ]; then
    sleep $(( $(od -An -N2 -tu2 /dev/urandom) % (JITTER + 1) ))
  fi
  stamp=$(date -u +%Y%m%dT%H%M%SZ)
  rc=0
  if [ -n "$OUT" ]; then
    # shellcheck disable=SC2086 # FLOWSCOPE_ARGS is a list of options
    "$FLOWSCOPE" --targets "$PEERS" -t "$DURATION" -J $FLOWSCOPE_ARGS >"$OUT/flowscope-$stamp.json" || rc=$?
  else
    # shellcheck disable=SC2086
    "$FLOWSCOPE" --targets "$PEERS" -t "$DURATION" -J $FLOWSCOPE_ARGS || rc=$?
  fi
  [ "$rc" -eq 0 ] || echo "flowscope-mesh: round $stamp: flowscope exited $rc (a peer failed; see its \"error\")" >&2
  [ "$ONCE" = 1 ] && exit "$rc"
  sleep "$INTERVAL"
done
