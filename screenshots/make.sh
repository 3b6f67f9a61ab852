#!/usr/bin/env bash
# Reproduces the screenshots in this directory from real runs on loopback:
# the UI runs in a detached tmux pane, capture-pane -e keeps its colours,
# aha turns that into HTML and headless chromium renders the PNG.
# Needs: go, tmux, aha, chromium (all Debian packages but go).
#   bash screenshots/make.sh            # all of them
#   bash screenshots/make.sh map_1000   # one
set -euo pipefail
cd "$(dirname "$0")/.."
out=screenshots
bin=$(mktemp -d)/flowscope
go build -o "$bin" .
for tool in tmux aha chromium; do
  command -v "$tool" >/dev/null || { echo "$tool is needed (apt-get install $tool)"; exit 1; }
done

sock="flowscope-shots-$$"
conf=$(mktemp)
echo 'set -g default-terminal "tmux-256color"' > "$conf"
tm() { tmux -L "$sock" -f "$conf" "$@"; }
pids=()
cleanup() {
  tm kill-server 2>/dev/null || true
  for p in "${pids[@]}"; do kill -CONT "$p" 2>/dev/null || true; kill "$p" 2>/dev/null || true; done
}
trap cleanup EXIT

# start NAME COLS ROWS CMD: a pane running CMD.
start() { tm kill-session -t "$1" 2>/dev/null || true; tm new-session -d -s "$1" -x "$2" -y "$3" "$4; sleep 600"; }
# wait_for NAME TEXT: poll the pane until TEXT shows (60 s at most).
wait_for() {
  for _ in $(seq 600); do
    tm capture-pane -p -t "$1" | grep -qF -- "$2" && return 0
    sleep 0.1
  done
  echo "timed out waiting for '$2' in $1:"; tm capture-pane -p -t "$1"; exit 1
}
# shoot NAME FILE: capture the pane and render it to FILE.png.
shoot() {
  local cols rows html
  cols=$(tm display -p -t "$1" '#{pane_width}')
  rows=$(tm display -p -t "$1" '#{pane_height}')
  html=$(mktemp --suffix=.html)
  # Glyphs the monospace font lacks (braille) come from other fonts with
  # other widths: every non-ASCII character gets a cell of its own.
  tm capture-pane -e -p -t "$1" | aha --black --title flowscope \
    | perl -CSD -pe 's/([^\x00-\x7F])/<span class="c">$1<\/span>/g' \
    | sed 's|<pre>|<style>.c{display:inline-block;width:1ch;text-align:center}</style><pre style="font: 14px/17px \x27DejaVu Sans Mono\x27, monospace; margin: 8px">|' > "$html"
  chromium --headless --no-sandbox --disable-gpu --hide-scrollbars \
    --window-size="$((cols * 85 / 10 + 16)),$((rows * 17 + 16))" \
    --screenshot="$PWD/$out/$2.png" "file://$html" >/dev/null 2>&1
  rm -f "$html"
  echo "$out/$2.png"
}
want() { local n=$1; shift; [ $# -eq 0 ] || [[ " $* " == *" $n "* ]]; }

args=("$@")
if want client_64 "${args[@]}"; then
  start c64 120 40 "$bin --loopback -t 20 -P 64 -i 0.5"
  wait_for c64 "6.0/20.0 s"
  shoot c64 client_64
  tm send-keys -t c64 j j j Enter
  wait_for c64 "rtt / rttvar"
  shoot c64 detail
  tm send-keys -t c64 q
fi

if want map_1000 "${args[@]}"; then
  start m1k 120 40 "$bin --loopback -t 20 -P 1000"
  wait_for m1k "6.0/20.0 s"
  tm send-keys -t m1k s m
  wait_for m1k "one cell each"
  shoot m1k map_1000
  tm send-keys -t m1k q
fi

if want server "${args[@]}"; then
  port=$((20000 + RANDOM % 20000))
  start srv 120 40 "$bin -s -B 127.0.0.1 -p $port"
  wait_for srv "waiting for a client"
  "$bin" -c 127.0.0.1 -p "$port" -t 2 -P 4 --no-tui >/dev/null
  "$bin" -c 127.0.0.1 -p "$port" -t 2 -P 2 -R --no-tui >/dev/null
  "$bin" -c 127.0.0.1 -p "$port" -t 20 -P 16 --bidir --no-tui >/dev/null 2>&1 &
  pids+=($!)
  wait_for srv "5.0/20.0 s"
  shoot srv server
  tm send-keys -t srv q
fi

if want stalled "${args[@]}"; then
  # A server that stops reading: SIGSTOP it mid-test, so every stream's
  # peer window closes and the streams stall until it continues.
  port=$((20000 + RANDOM % 20000))
  "$bin" -s -B 127.0.0.1 -p "$port" --no-tui >/dev/null 2>&1 &
  srv=$!
  pids+=("$srv")
  sleep 0.5
  start stl 120 40 "$bin -c 127.0.0.1 -p $port -t 20 -P 8 -i 0.5"
  wait_for stl "3.0/20.0 s"
  kill -STOP "$srv"
  wait_for stl "STALLED 2"
  shoot stl stalled
  kill -CONT "$srv"
  tm send-keys -t stl q
fi

if want replay "${args[@]}" || want report "${args[@]}"; then
  # A recorded test with a stall in it: the server stops reading for 3 s
  # (SIGSTOP, then SIGCONT) while the client records (--record).
  port=$((20000 + RANDOM % 20000))
  "$bin" -s -B 127.0.0.1 -p "$port" --no-tui >/dev/null 2>&1 &
  srv=$!
  pids+=("$srv")
  sleep 0.5
  work=$(mktemp -d)
  "$bin" -c 127.0.0.1 -p "$port" -t 12 -P 8 -i 0.5 --no-tui --record "$work/test.jsonl" >"$work/test.txt" 2>&1 &
  cli=$!
  for _ in $(seq 300); do grep -q "3.50-4.00" "$work/test.txt" && break; sleep 0.1; done
  kill -STOP "$srv"
  sleep 3
  kill -CONT "$srv"
  wait "$cli" || true
fi

if want replay "${args[@]}"; then
  start rpl 120 40 "$bin replay $work/test.jsonl"
  wait_for rpl "replay 1/"
  tm send-keys -t rpl -l ">.."
  wait_for rpl "replay 13/"
  shoot rpl replay
  tm send-keys -t rpl q
fi

if want report "${args[@]}"; then
  "$bin" report "$work/test.jsonl" -o "$work/report.html"
  chromium --headless --no-sandbox --disable-gpu --disable-quic --no-first-run --disable-background-networking \
    --disable-component-update --disable-sync --user-data-dir="$(mktemp -d)" --hide-scrollbars \
    --window-size=1040,1900 --screenshot="$PWD/$out/report.png" "file://$work/report.html" >/dev/null 2>&1
  echo "$out/report.png"
fi

if want stalled_80 "${args[@]}"; then
  # The same stall at 80 columns: the row keeps its reason's phrase whole
  # and the status line under the list has the whole reason and the fix.
  port=$((20000 + RANDOM % 20000))
  "$bin" -s -B 127.0.0.1 -p "$port" --no-tui >/dev/null 2>&1 &
  srv=$!
  pids+=("$srv")
  sleep 0.5
  start s80 80 24 "$bin -c 127.0.0.1 -p $port -t 20 -P 4 -i 0.5"
  wait_for s80 "3.0/20.0 s"
  kill -STOP "$srv"
  wait_for s80 "fix:"
  wait_for s80 "STALLED 3"
  shoot s80 stalled_80
  kill -CONT "$srv"
  tm send-keys -t s80 q
fi

if want reverse "${args[@]}"; then
  # -R: the server sends, and its kernel's retransmits, RTT and cwnd reach
  # the client's rows through the sender-view extension.
  start rev 120 30 "$bin --loopback -R -P 4 -t 20 -i 0.5"
  wait_for rev "6.0/20.0 s"
  shoot rev reverse
  tm send-keys -t rev q
fi
if want udp_send_loss "${args[@]}"; then
  # A UDP client that sends faster than the server's small receive buffer
  # (-w 64K) is read: the loss and jitter are the server's, shown live on
  # the sending client's rows.
  start udps 120 30 "$bin --loopback -u -b 1500M -w 64K -l 1400 -t 20 -P 2 -i 0.5"
  wait_for udps "6.0/20.0 s"
  shoot udps udp_send_loss
  tm send-keys -t udps q
fi
if want udp_loss "${args[@]}"; then
  # UDP into a small receive buffer (-w 64K) faster than it is read:
  # the client receives (-R) and its rows show the loss and jitter live.
  start udp 120 40 "$bin --loopback -u -b 1500M -w 64K -l 1400 -R -t 20 -P 2 -i 0.5"
  wait_for udp "6.0/20.0 s"
  shoot udp udp_loss
  tm send-keys -t udp q
fi
