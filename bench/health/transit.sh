#!/usr/bin/env bash
# bench/health/transit.sh [DUR=10] [HC_TARGETS=500]
#
# Issue 4's question, measured at the data plane itself: does health-checking 1,000 real servers every
# second delay packets inside the director? The time a packet spends in the director (its "transit") is
# the kernel timestamp of a client's SYN arriving at the real server minus the timestamp of the same SYN
# leaving the client (bench/health/syn-stamps.py on both veths; same clock, matched by client port). It
# covers two veth hops plus lvsd, and nothing of the client's or the server's own scheduling, which the
# end-to-end wrk latency of the peer bench (lvsd-nat-hc) also contains.
#
#   client 10.30.0.2 --- director (lvsd -f, NAT VIP 10.30.0.100:80) --- rs 172.30.0.11 (nginx)
#                                 \--- targets 172.30.9.2 (2 x HC_TARGETS listeners, their own namespace)
#
# Runs of DUR seconds with the same client load (wrk -t1 -c2, Connection: close), RUNS in turn, REPS times:
#   base: keepalived.conf with the VIP only;
#   hc:   plus a virtual server with 2 x HC_TARGETS real servers (TCP_CHECK / HTTP_GET + digest), delay_loop 1,
#         checked by the addon's probe thread (the default);
#   hc-node: the same checked with Node sockets (LVSD_NODE_CHECKERS=1), as before the probe thread;
#   hc-nice: hc with the data-plane thread at nice -5 (--dataplane-nice -5);
#   base-pinned, hc-pinned: base and hc with the data-plane thread alone on the last CPU
#         (--dataplane-cpu) and every other process on the other CPUs;
#   base-pinned-hog: base-pinned with a busy loop on CPU 0 (the client slowed as much as by the checks,
#         without checks: separates "the checks disturb the data plane" from "a slower client does").
# RUNS defaults to "base hc hc-node", REPS to 2: the machine's noise between runs is large, so compare
# rows of the same repetition.
# Prints per run: SYNs matched, transit p50 / p90 / p99 / p99.9 / max in microseconds (client to real
# server), the director's share (vd0 to real server) p50 / p99 / p99.9, checks done.
# Needs root, nginx, wrk, python3, jq; builds nothing (run `npm run build` first). Removes what it made.
set -eu
HERE=$(cd "$(dirname "$0")" && pwd)
ROOT=$(cd "$HERE/../.." && pwd)
DUR=${1:-10}
HC_TARGETS=${2:-500}
RUNS=${RUNS:-base hc hc-node}
REPS=${REPS:-2}
P=tr$$
C=${P}c D=${P}d R=${P}r T=${P}t
TMP=$(mktemp -d /tmp/lvsd-transit.XXXXXX)
LVSD="$ROOT/bin/lvsd"
nsx() { local n=$1; shift; ip netns exec "$n" "$@"; }
cleanup() {
  set +e
  [ -n "${PREQUEUE_SAVED:-}" ] && sysctl -qw net.core.netdev_tstamp_prequeue="$PREQUEUE_SAVED"
  exec 9>&-
  nsx $D "$LVSD" stop >/dev/null 2>&1
  for n in $C $D $R $T; do ip netns pids $n 2>/dev/null | xargs -r kill 2>/dev/null; done
  sleep 0.5
  for n in $C $D $R $T; do ip netns pids $n 2>/dev/null | xargs -r kill -9 2>/dev/null; ip netns del $n 2>/dev/null; done
  rm -rf "$TMP"
}
trap cleanup EXIT
# the director's own share ("director" columns): from the SYN's arrival in the director's stack on
# vd0 (where lvsd's socket gets it) to its arrival at the real server. With netdev_tstamp_prequeue=0
# the kernel stamps a received frame when it is processed, not when the sender queued it, so the
# client side's queueing (the veth backlog on the client's CPU) is not counted; restored on exit.
PREQUEUE_SAVED=$(sysctl -n net.core.netdev_tstamp_prequeue)
sysctl -qw net.core.netdev_tstamp_prequeue=0

for n in $C $D $R $T; do ip netns add $n; nsx $n ip link set lo up; done
ip link add vc netns $C type veth peer name vd0 netns $D
ip link add vd1 netns $D type veth peer name vr netns $R
ip link add vd2 netns $D type veth peer name vt netns $T
nsx $C sh -c 'ip link set vc up; ip addr add 10.30.0.2/24 dev vc'
nsx $D sh -c 'ip link set vd0 up; ip addr add 10.30.0.1/24 dev vd0; ip addr add 10.30.0.100/32 dev vd0
  ip link set vd1 up; ip addr add 172.30.0.1/24 dev vd1; ip link set vd2 up; ip addr add 172.30.9.1/24 dev vd2
  sysctl -qw net.ipv4.ip_forward=1'
nsx $R sh -c 'ip link set vr up; ip addr add 172.30.0.11/24 dev vr; ip route add default via 172.30.0.1'
nsx $T sh -c 'ip link set vt up; ip addr add 172.30.9.2/24 dev vt; ip route add default via 172.30.9.1'

mkdir -p "$TMP/nginx"
cat > "$TMP/nginx/nginx.conf" <<NGINX
worker_processes 1;
pid $TMP/nginx/nginx.pid;
error_log $TMP/nginx/error.log;
events { worker_connections 4096; }
http {
  access_log off;
  client_body_temp_path $TMP/nginx; proxy_temp_path $TMP/nginx; fastcgi_temp_path $TMP/nginx;
  uwsgi_temp_path $TMP/nginx; scgi_temp_path $TMP/nginx;
  server { listen 80; location / { return 200 "ok\n"; } }
}
NGINX
nsx $R nginx -c "$TMP/nginx/nginx.conf"

# check targets: their own namespace and process (remote real servers, as far as one box allows)
# (servers.js exits when its stdin closes: a fifo held open on fd 9 by this script)
mkfifo "$TMP/targets.stdin"
nsx $T node "$ROOT/dist/bench/health/servers.js" $HC_TARGETS 172.30.9.2 < "$TMP/targets.stdin" > "$TMP/ports.json" &
exec 9> "$TMP/targets.stdin"
for _ in $(seq 100); do [ -s "$TMP/ports.json" ] && break; sleep 0.1; done

base_conf() {
  cat <<CONF
global_defs { router_id transit }
virtual_server 10.30.0.100 80 {
  delay_loop 1
  lb_algo rr
  lb_kind NAT
  protocol TCP
  real_server 172.30.0.11 80 { weight 1 }
}
CONF
}
hc_conf() {
  base_conf
  echo 'virtual_server 10.30.9.100 9999 {'
  echo '  delay_loop 1'; echo '  lb_algo rr'; echo '  lb_kind NAT'; echo '  protocol TCP'
  jq -r '.tcp[]' "$TMP/ports.json" | while read -r p; do
    echo "  real_server 172.30.9.2 $p { weight 1"; echo '    TCP_CHECK { connect_timeout 2 }'; echo '  }'
  done
  jq -r '.http[]' "$TMP/ports.json" | while read -r p; do
    echo "  real_server 172.30.9.2 $p { weight 1"
    echo '    HTTP_GET { url { path / digest eff5bc1ef8ec9d03e640fc4370f5eacd } connect_timeout 2 }'
    echo '  }'
  done
  echo '}'
}

# completed checks so far, from `lvsd status --json` on stdin
checks_done() {
  python3 -c '
import json, sys
s = json.load(sys.stdin)
h = (s.get("keepalived") or {}).get("health") or {}
print(sum(c.get("checks", 0) for v in h.get("virtualServers", []) for r in v.get("realServers", []) for c in r.get("checkers", [])))'
}

# PIN=1: `--dataplane-cpu LAST`: the data-plane thread alone on the last CPU, lvsd's other threads
# (control, probe thread) on the others, where taskset also puts client, nginx, check targets and the
# taps, as on a director with a core kept for its data plane; PIN unset: everything runs anywhere
ALL_CPUS=0-$(($(nproc) - 1))
LAST_CPU=$(($(nproc) - 1))
OTHER_CPUS=0-$((LAST_CPU > 0 ? LAST_CPU - 1 : 0))
pin_others() {
  local cpus=$1
  # every process of the real server's and the targets' namespaces (nginx, bench/health/servers.js)
  for pid in $(ip netns pids $R) $(ip netns pids $T); do taskset -a -pc "$cpus" "$pid" >/dev/null 2>&1 || true; done
}
run() {
  local name=$1 conf=$2; shift 2
  "$conf" > "$TMP/$name.conf"
  local cpus=$ALL_CPUS
  if [ -n "${PIN:-}" ]; then cpus=$OTHER_CPUS; set -- "$@" --dataplane-cpu "$LAST_CPU"; fi
  pin_others "$cpus"
  # lvsd itself keeps its other threads off the data-plane CPU (--dataplane-cpu)
  nsx $D "$LVSD" -f "$TMP/$name.conf" -p "$TMP/lvsd.pid" "$@"
  if [ "$conf" = hc_conf ]; then
    for _ in $(seq 150); do
      [ "$(nsx $D "$ROOT/bin/ipvsadm" -L -n | grep -c '172.30.9.2:')" -ge $((2 * HC_TARGETS)) ] && break; sleep 0.2
    done
  fi
  for _ in $(seq 50); do nsx $C curl -s -m 1 -o /dev/null http://10.30.0.100/ && break; sleep 0.2; done
  sleep 2
  local checks0 checks1
  checks0=$(nsx $D "$LVSD" status --json | checks_done)
  nsx $C taskset -c "$cpus" python3 "$HERE/syn-stamps.py" vc "$TMP/$name.c" $((DUR + 1)) &
  local pc=$!
  nsx $R taskset -c "$cpus" python3 "$HERE/syn-stamps.py" vr "$TMP/$name.r" $((DUR + 1)) &
  local pr=$!
  nsx $D taskset -c "$cpus" python3 "$HERE/syn-stamps.py" vd0 "$TMP/$name.d" $((DUR + 1)) &
  local pd=$!
  sleep 0.5
  local hog=
  # HOG=1: a busy loop on CPU 0 for the run, slowing the client as the checks do, without checks
  if [ -n "${HOG:-}" ]; then taskset -c 0 sh -c 'while :; do :; done' & hog=$!; fi
  nsx $C taskset -c "$cpus" wrk -t1 -c2 -d${DUR}s -H 'Connection: close' http://10.30.0.100/ > "$TMP/$name.wrk" 2>&1
  wait $pc $pr $pd
  if [ -n "$hog" ]; then kill "$hog"; fi
  checks1=$(nsx $D "$LVSD" status --json | checks_done)
  nsx $D "$LVSD" stop >/dev/null 2>&1 || true
  for _ in $(seq 50); do [ -e "$TMP/lvsd.pid" ] || break; sleep 0.1; done
  python3 - "$TMP/$name.c" "$TMP/$name.d" "$TMP/$name.r" "$name" "$(grep -m1 'Requests/sec' "$TMP/$name.wrk" | awk '{print $2}')" \
    "$(( (checks1 - checks0) / DUR ))" <<'PY'
import sys, collections
cf, df, rf, name, rate, cps = sys.argv[1:7]
def transit(start_file, end_file):
    sent = collections.defaultdict(collections.deque)
    for line in open(start_file):
        p, t = line.split(); sent[p].append(int(t))
    lat = []
    for line in open(end_file):
        p, t = line.split(); t = int(t); q = sent.get(p)
        while q and q[0] <= t - 100_000_000:  # older than 100 ms: that SYN was lost or retransmitted
            q.popleft()
        if q and q[0] <= t:
            lat.append((t - q.popleft()) / 1000)
    lat.sort()
    return lat
pct = lambda lat, x: lat[min(len(lat) - 1, int(len(lat) * x))] if lat else float('nan')
whole, director = transit(cf, rf), transit(df, rf)
cols = [f"{pct(whole, q):.0f}" for q in (0.5, 0.9, 0.99, 0.999)] + [f"{whole[-1] if whole else float('nan'):.0f}"]
cols += [f"{pct(director, q):.0f}" for q in (0.5, 0.99, 0.999)]
print(f"| {name} | {rate} | {cps} | {len(whole)} | " + " | ".join(cols) + " |")
PY
}

echo "| run | wrk conn/s | checks/s | SYNs matched | transit p50 us | p90 | p99 | p99.9 | max | director p50 us | p99 | p99.9 |"
echo "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|"
for _ in $(seq "$REPS"); do
  for r in $RUNS; do
    case $r in
      base) run base base_conf ;;
      hc) run hc hc_conf ;;
      hc-node) LVSD_NODE_CHECKERS=1 run hc-node hc_conf ;;
      hc-nice) run hc-nice hc_conf --dataplane-nice -5 ;;
      base-pinned) PIN=1 run base-pinned base_conf ;;
      base-pinned-hog) HOG=1 PIN=1 run base-pinned-hog base_conf ;;
      hc-pinned) PIN=1 run hc-pinned hc_conf ;;
      *) echo "unknown run $r (base hc hc-node hc-nice base-pinned base-pinned-hog hc-pinned)" >&2; exit 2 ;;
    esac
  done
done
