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
# Three runs of DUR seconds with the same client load (wrk -t1 -c2, Connection: close):
#   base: keepalived.conf with the VIP only;
#   hc:   plus a virtual server with 2 x HC_TARGETS real servers (TCP_CHECK / HTTP_GET + digest), delay_loop 1;
#   hc-nice: the same with the data-plane thread at nice -5 (--dataplane-nice -5).
# Prints per run: SYNs matched, transit p50 / p90 / p99 / p99.9 / max in microseconds, checks done.
# Needs root, nginx, wrk, python3, jq; builds nothing (run `npm run build` first). Removes what it made.
set -eu
HERE=$(cd "$(dirname "$0")" && pwd)
ROOT=$(cd "$HERE/../.." && pwd)
DUR=${1:-10}
HC_TARGETS=${2:-500}
P=tr$$
C=${P}c D=${P}d R=${P}r T=${P}t
TMP=$(mktemp -d /tmp/lvsd-transit.XXXXXX)
LVSD="$ROOT/bin/lvsd"
nsx() { local n=$1; shift; ip netns exec "$n" "$@"; }
cleanup() {
  set +e
  exec 9>&-
  nsx $D "$LVSD" stop >/dev/null 2>&1
  for n in $C $D $R $T; do ip netns pids $n 2>/dev/null | xargs -r kill 2>/dev/null; done
  sleep 0.5
  for n in $C $D $R $T; do ip netns pids $n 2>/dev/null | xargs -r kill -9 2>/dev/null; ip netns del $n 2>/dev/null; done
  rm -rf "$TMP"
}
trap cleanup EXIT

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

run() {
  local name=$1 conf=$2; shift 2
  "$conf" > "$TMP/$name.conf"
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
  nsx $C python3 "$HERE/syn-stamps.py" vc "$TMP/$name.c" $((DUR + 1)) &
  local pc=$!
  nsx $R python3 "$HERE/syn-stamps.py" vr "$TMP/$name.r" $((DUR + 1)) &
  local pr=$!
  sleep 0.5
  nsx $C wrk -t1 -c2 -d${DUR}s -H 'Connection: close' http://10.30.0.100/ > "$TMP/$name.wrk" 2>&1
  wait $pc $pr
  checks1=$(nsx $D "$LVSD" status --json | checks_done)
  nsx $D "$LVSD" stop >/dev/null 2>&1 || true
  for _ in $(seq 50); do [ -e "$TMP/lvsd.pid" ] || break; sleep 0.1; done
  python3 - "$TMP/$name.c" "$TMP/$name.r" "$name" "$(grep -m1 'Requests/sec' "$TMP/$name.wrk" | awk '{print $2}')" \
    "$(( (checks1 - checks0) / DUR ))" <<'PY'
import sys, collections
cf, rf, name, rate, cps = sys.argv[1:6]
sent = collections.defaultdict(collections.deque)
for line in open(cf):
    p, t = line.split(); sent[p].append(int(t))
lat = []
for line in open(rf):
    p, t = line.split(); t = int(t); q = sent.get(p)
    while q and q[0] <= t - 100_000_000:  # older than 100 ms: that SYN was lost or retransmitted
        q.popleft()
    if q and q[0] <= t:
        lat.append((t - q.popleft()) / 1000)
lat.sort()
pct = lambda x: lat[min(len(lat) - 1, int(len(lat) * x))] if lat else float('nan')
print(f"| {name} | {rate} | {cps} | {len(lat)} | {pct(0.5):.0f} | {pct(0.9):.0f} | {pct(0.99):.0f} | {pct(0.999):.0f} | {lat[-1] if lat else float('nan'):.0f} |")
PY
}

echo "| run | wrk conn/s | checks/s | SYNs matched | transit p50 us | p90 | p99 | p99.9 | max |"
echo "|---|---:|---:|---:|---:|---:|---:|---:|---:|"
run base base_conf
run hc hc_conf
run hc-nice hc_conf --dataplane-nice -5
