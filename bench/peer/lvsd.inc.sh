# Shared body of the lvsd contenders (lvsd-nat.sh, lvsd-dr.sh) for the peer harness ../shared/bench.
# Sourced by the harness' run.sh (in a subshell, after common.sh) through lvsd-nat.sh / lvsd-dr.sh, with
# LVSD_FWD=m (NAT, masquerading) or LVSD_FWD=g (DR, gatewaying) set by the including file.
#
# The director: bin/ipvsadm of this checkout, run inside lb-director, starts that namespace's lvsd daemon
# (detached, log /var/log/lvsd/lvsd-<netns inode>.log) and loads the table with one `ipvsadm -R`:
#   VIP:80   -s rr        over the three real servers :80
#   VIP:5201 -s rr -p 300 (persistence: iperf3's control and data connections reach the same server)
# LVSD_CPU_PROF=DIR starts the daemon by hand as `node --cpu-prof --cpu-prof-dir=DIR bin/lvsd` first (the
# main thread and the data-plane worker each write a .cpuprofile when the daemon stops).
#
# NAT: the real servers' default route is the director's bridge address (topo.sh), so replies come back to
#   lvsd, which rewrites them; nothing else to do.
# DR: each real server holds the VIP on lo (`lvsd realserver up --vip VIP`: /32 on lo, arp_ignore=1,
#   arp_announce=2). The director and real servers share the L2 segment lbbr0 (a bridge in lb-director).
#   The harness' client has no leg on that segment, so by default replies (source VIP) would be routed by the
#   director's kernel. LVSD_DR_RETURN=direct (default) gives the client a second leg on lbbr0 (10.20.0.2) and
#   the real servers a host route to the client through it, so replies cross the bridge (L2 switching only,
#   like a switch port) and never the director's IP stack, as in a real LVS-DR deployment.
#   LVSD_DR_RETURN=director instead routes replies through the director's kernel (needs accept_local=1 on
#   lbbr0 because their source, the VIP, is one of the director's own addresses).
LVSD_ROOT=${LVSD_ROOT:-$(cd "$(dirname "$(readlink -f "${BASH_SOURCE[0]}")")/../.." && pwd)}
LVSD_DR_RETURN=${LVSD_DR_RETURN:-direct}
DR_CLIENT_LEG_IP=10.20.0.2

lvsd_ns() { local ns=$1; shift; ip netns exec "$ns" env PATH="$LVSD_ROOT/bin:$PATH" "$@"; }

lb_start() {
  mkdir -p $RUN/lb
  if [ "$LVSD_FWD" = g ]; then
    for ns in "${RS_NS[@]}"; do lvsd_ns $ns lvsd realserver up --vip $VIP >/dev/null || echo "realserver up failed in $ns"; done
    if [ "$LVSD_DR_RETURN" = direct ]; then
      # client leg on the real servers' segment; created before the daemon starts and enslaved before it is up
      # fixed MAC: a re-created leg with a new random MAC would meet stale neighbour entries on the RS
      ip link add lbcdr0 netns $NS_CLIENT address 02:00:0a:14:00:02 type veth peer name lbrsc netns $NS_DIR
      nsx $NS_DIR ip link set lbrsc master lbbr0; nsx $NS_DIR ip link set lbrsc up
      nsx $NS_CLIENT ip addr add $DR_CLIENT_LEG_IP/24 dev lbcdr0; nsx $NS_CLIENT ip link set lbcdr0 up
      # replies arrive on lbcdr0 while the route to their source (the VIP) points at lbc0: loose/no rp_filter
      nsx $NS_CLIENT sysctl -qw net.ipv4.conf.all.rp_filter=0 net.ipv4.conf.lbcdr0.rp_filter=0
      for ns in "${RS_NS[@]}"; do nsx $ns ip route add $CLIENT_IP/32 via $DR_CLIENT_LEG_IP; done
    else
      nsx $NS_DIR sysctl -qw net.ipv4.conf.lbbr0.accept_local=1
    fi
  fi
  if [ -n "${LVSD_CPU_PROF:-}" ]; then
    mkdir -p "$LVSD_CPU_PROF"
    nsx $NS_DIR node --cpu-prof --cpu-prof-dir="$LVSD_CPU_PROF" "$LVSD_ROOT/bin/lvsd" > $RUN/lb/lvsd-fg.log 2>&1 &
    for _ in $(seq 50); do lvsd_ns $NS_DIR lvsd status >/dev/null 2>&1 && break; sleep 0.2; done
  fi
  # -C first: lvsd restores the table it saved when it last ran in this namespace (issue 5), as a
  # kernel keeps its IPVS table; the contender wants exactly its own table
  lvsd_ns $NS_DIR ipvsadm -R <<TABLE
-C
-A -t $VIP:$HTTP_PORT -s rr
-a -t $VIP:$HTTP_PORT -r ${RS_IPS[0]}:$HTTP_PORT -$LVSD_FWD -w 1
-a -t $VIP:$HTTP_PORT -r ${RS_IPS[1]}:$HTTP_PORT -$LVSD_FWD -w 1
-a -t $VIP:$HTTP_PORT -r ${RS_IPS[2]}:$HTTP_PORT -$LVSD_FWD -w 1
-A -t $VIP:$IPERF_PORT -s rr -p 300
-a -t $VIP:$IPERF_PORT -r ${RS_IPS[0]}:$IPERF_PORT -$LVSD_FWD -w 1
-a -t $VIP:$IPERF_PORT -r ${RS_IPS[1]}:$IPERF_PORT -$LVSD_FWD -w 1
-a -t $VIP:$IPERF_PORT -r ${RS_IPS[2]}:$IPERF_PORT -$LVSD_FWD -w 1
TABLE
  lvsd_ns $NS_DIR lvsd status --json | jq -r .pid > $RUN/lb/lvsd.pid
}

lb_stop() {
  # keep the table's counters and the daemon's status next to the harness' outputs
  local keep=${OUTDIR:-$RUN/lb}/${C:-lvsd}.${REP:-0}
  lvsd_ns $NS_DIR ipvsadm -L -n --stats > $keep.ipvsadm-stats.txt 2>&1
  lvsd_ns $NS_DIR lvsd status > $keep.lvsd-status.txt 2>&1
  # empty the table first so the next contender's daemon does not restore it
  lvsd_ns $NS_DIR ipvsadm -C >/dev/null 2>&1
  lvsd_ns $NS_DIR lvsd stop >/dev/null 2>&1 || kill_pidfile $RUN/lb/lvsd.pid
  rm -f $RUN/lb/lvsd.pid
  if [ "$LVSD_FWD" = g ]; then
    for ns in "${RS_NS[@]}"; do lvsd_ns $ns lvsd realserver down >/dev/null 2>&1; done
    if [ "$LVSD_DR_RETURN" = direct ]; then
      for ns in "${RS_NS[@]}"; do
        nsx $ns ip route del $CLIENT_IP/32 via $DR_CLIENT_LEG_IP 2>/dev/null
        nsx $ns ip neigh flush to $DR_CLIENT_LEG_IP 2>/dev/null
      done
      nsx $NS_CLIENT ip link del lbcdr0 2>/dev/null
    else
      nsx $NS_DIR sysctl -qw net.ipv4.conf.lbbr0.accept_local=0
    fi
  fi
  return 0
}

# The daemon process: its data plane runs in a worker thread of the same process, so the process'
# utime+stime (all threads) is the balancer's CPU.
lb_pids() { cat $RUN/lb/lvsd.pid 2>/dev/null; echo; }
