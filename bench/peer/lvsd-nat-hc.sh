# contender 'lvsd-nat-hc': 'lvsd-nat' run from a keepalived.conf whose health checker also checks 1,000 real
# servers every second (500 TCP_CHECK + 500 HTTP_GET with digest, delay_loop 1), the issue-4 question "do
# 1,000 checks per second disturb the data plane?". Compare its rows with lvsd-nat's from the same run.
# The 1,000 check targets are bench/health/servers.js listeners on 127.0.0.1 in the director namespace (a
# separate process: their CPU is not lvsd's, but it shares the machine like everything in this harness);
# they sit behind a third virtual server (10.255.0.1:9999) that carries no traffic. The benchmark's own two
# services are the same as lvsd-nat's (VIP:80 rr, VIP:5201 rr persistent 300, three NAT real servers),
# their real servers checked with TCP_CHECK too.
LVSD_FWD=m
. "$(dirname "$(readlink -f "${BASH_SOURCE[0]}")")/lvsd.inc.sh"

HC_TARGETS=${HC_TARGETS:-500}

lb_start() {
  mkdir -p $RUN/lb
  local conf=$RUN/lb/keepalived-hc.conf ports=$RUN/lb/hc-ports.json
  # listeners live as long as their stdin (a sleep we kill in lb_stop)
  (sleep 100000 | nsx $NS_DIR node "$LVSD_ROOT/dist/bench/health/servers.js" $HC_TARGETS > $ports) &
  for _ in $(seq 100); do [ -s $ports ] && break; sleep 0.1; done
  pgrep -f "sleep 100000" | head -1 > $RUN/lb/hc-sleep.pid
  {
    echo 'global_defs { router_id lvsd-bench }'
    for port in $HTTP_PORT $IPERF_PORT; do
      echo "virtual_server $VIP $port {"
      echo '  delay_loop 1'; echo '  lb_algo rr'; echo '  lb_kind NAT'; echo '  protocol TCP'
      [ $port = $IPERF_PORT ] && echo '  persistence_timeout 300'
      for ip in "${RS_IPS[@]}"; do
        echo "  real_server $ip $port { weight 1"
        [ $port = $HTTP_PORT ] && echo '    TCP_CHECK { connect_timeout 2 }'
        echo '  }'
      done
      echo '}'
    done
    echo 'virtual_server 10.255.0.1 9999 {'
    echo '  delay_loop 1'; echo '  lb_algo rr'; echo '  lb_kind NAT'; echo '  protocol TCP'
    jq -r '.tcp[]' $ports | while read -r p; do
      echo "  real_server 127.0.0.1 $p { weight 1"; echo '    TCP_CHECK { connect_timeout 2 }'; echo '  }'
    done
    jq -r '.http[]' $ports | while read -r p; do
      echo "  real_server 127.0.0.1 $p { weight 1"
      echo '    HTTP_GET { url { path / digest eff5bc1ef8ec9d03e640fc4370f5eacd } connect_timeout 2 }'
      echo '  }'
    done
    echo '}'
  } > $conf
  lvsd_ns $NS_DIR ipvsadm -C >/dev/null 2>&1 || true
  lvsd_ns $NS_DIR lvsd stop >/dev/null 2>&1 || true
  lvsd_ns $NS_DIR lvsd -f $conf -p $RUN/lb/lvsd.pid
  for _ in $(seq 100); do lvsd_ns $NS_DIR lvsd status >/dev/null 2>&1 && break; sleep 0.2; done
  # checks up: every target real server in the table
  for _ in $(seq 100); do
    [ "$(lvsd_ns $NS_DIR ipvsadm -L -n | grep -c '127.0.0.1:')" -ge $((2 * HC_TARGETS)) ] && break; sleep 0.2
  done
}

lb_stop() {
  local keep=${OUTDIR:-$RUN/lb}/${C:-lvsd}.${REP:-0}
  lvsd_ns $NS_DIR ipvsadm -L -n --stats > $keep.ipvsadm-stats.txt 2>&1
  lvsd_ns $NS_DIR lvsd status > $keep.lvsd-status.txt 2>&1
  lvsd_ns $NS_DIR lvsd stop >/dev/null 2>&1 || kill_pidfile $RUN/lb/lvsd.pid
  for _ in $(seq 50); do [ -e $RUN/lb/lvsd.pid ] || break; sleep 0.1; done
  kill_pidfile $RUN/lb/hc-sleep.pid
  rm -f $RUN/lb/lvsd.pid
  return 0
}
