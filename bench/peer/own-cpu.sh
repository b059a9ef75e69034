#!/usr/bin/env bash
# bench/peer/own-cpu.sh [contender ...] -- split each user-space balancer's CPU per new connection into its own work
# and the receivers' work that veth runs inline in its thread.
#
# Why: a frame sent into a veth is received by the peer's stack at the sender's local_bh_enable (veth has no
# queue of its own: veth_xmit -> __netif_rx -> backlog -> do_softirq in the same thread), and everything that the
# receiver does synchronously follows (a real server's SYN-ACK, the client's ACK to it, ...). With tick-based CPU
# accounting (this kernel: CONFIG_IRQ_TIME_ACCOUNTING is off) that softirq is charged to the sending process. The
# harness' "LB CPU us per new conn" therefore holds the client's and real servers' TCP receive work for every frame
# the balancer sends; on a NIC that work ends at the driver queue.
#
# Method, per contender and repetition (REPS, default 2), interleaved: pass A runs the harness' close test
# unprofiled (the LB CPU figure, as bench/peer/run.sh reports it); pass B runs it again with `perf record -g` on the
# balancer's processes for PERF_S seconds in the middle and takes the share of samples under net_rx_action (softirq
# receive processing; the balancer's own receive path is in it too when it runs nested, e.g. lvsd's AF_PACKET
# packet_rcv, so "own" below is a lower bound for every contender alike). own = LB CPU x (1 - share).
# Output: OUTDIR/own-cpu.tsv and a markdown table on stdout. Needs perf and root; builds nothing.
set -eu
HERE=$(cd "$(dirname "$0")" && pwd)
REPS=${REPS:-2}; DUR=${DUR:-12}; PERF_S=${PERF_S:-5}
OUTDIR=${OUTDIR:-$HERE/results/$(date +%Y%m%d-%H%M%S)-own-cpu}
mkdir -p "$OUTDIR"
[ $# -eq 0 ] && set -- lvsd-nat haproxy nginx
command -v perf >/dev/null || { echo "own-cpu.sh: perf not found" >&2; exit 2; }

lb_pids() { # the balancer's processes inside the director namespace
  local c=$1 p
  for p in $(ip netns pids lb-director 2>/dev/null); do
    case "$c:$(cat /proc/$p/comm 2>/dev/null)" in
      lvsd*:node | haproxy:haproxy | nginx:nginx | pen:pen) echo $p ;;
    esac
  done | paste -sd, -
}

harness() { # contender outdir -> runs the close test once
  REPS=1 DUR=$DUR TESTS=close WAIT_QUIET=${WAIT_QUIET:-10} OUTDIR=$2 "$HERE/run.sh" "$1" > "$2.log" 2>&1
}

TSV=$OUTDIR/own-cpu.tsv
printf 'contender\trep\tlb_cpu_us_per_conn\tnet_rx_share\n' > "$TSV"
for rep in $(seq 1 "$REPS"); do
  for c in "$@"; do
    a=$OUTDIR/$c.$rep.plain; b=$OUTDIR/$c.$rep.perf
    harness "$c" "$a"
    cpu=$(awk -F'\t' '$3=="close" && $4=="lb_cpu_s"{c=$5} $3=="close" && $4=="rate"{r=$5} END{if (r>0) printf "%.1f", 1e6*c/(r*'"$DUR"')}' "$a/raw.tsv")
    harness "$c" "$b" &
    hp=$!
    for _ in $(seq 600); do pgrep -x wrk >/dev/null && break; sleep 0.2; done
    sleep $(( (DUR - PERF_S) / 2 ))
    pids=$(lb_pids "$c")
    share=NA
    if [ -n "$pids" ]; then
      perf record -q -F 1999 -g -p "$pids" -o "$b.data" -- sleep "$PERF_S" >/dev/null 2>&1 || true
      share=$(perf report -i "$b.data" --children --sort sym -g none --stdio 2>/dev/null |
        awk '$NF=="net_rx_action"{gsub("%","",$1); printf "%.3f", $1/100; exit}')
      rm -f "$b.data"
    fi
    wait $hp || true
    printf '%s\t%s\t%s\t%s\n' "$c" "$rep" "${cpu:-NA}" "${share:-NA}" >> "$TSV"
    echo "own-cpu: $c rep $rep: LB CPU ${cpu:-NA} us/conn, net_rx share ${share:-NA}" >&2
  done
done

python3 - "$TSV" <<'PY'
import sys, statistics as st
from collections import defaultdict
rows = [l.rstrip('\n').split('\t') for l in open(sys.argv[1])][1:]
d = defaultdict(lambda: ([], []))
for c, r, cpu, sh in rows:
    if cpu != 'NA': d[c][0].append(float(cpu))
    if sh != 'NA': d[c][1].append(float(sh))
print('| contender | LB CPU us / new conn (harness) | receivers\' inline softirq share | own us / new conn |')
print('|---|---:|---:|---:|')
for c, (cpus, shares) in d.items():
    if not cpus or not shares: print(f'| {c} | - | - | - |'); continue
    cpu, sh = st.median(cpus), st.median(shares)
    print(f'| {c} | {cpu:.1f} | {100*sh:.0f} % | {cpu*(1-sh):.1f} |')
PY
