/**
 * ipvsadm's version and usage texts. The version line and the usage block are ipvsadm 1.31's
 * (ipvs-reference §1.1, §1.2); the option summary after them is lvsd's own wording.
 */
export const IPVSADM_VERSION = 'ipvsadm v1.31 2019/12/24 (compiled with popt and IPVS v1.2.1)';

export const IPVSADM_USAGE = `${IPVSADM_VERSION}
Usage:
  ipvsadm -A|E virtual-service [-s scheduler] [-p [timeout]] [-M netmask] [--pe persistence_engine] [-b sched-flags]
  ipvsadm -D virtual-service
  ipvsadm -C
  ipvsadm -R
  ipvsadm -S [-n]
  ipvsadm -a|e virtual-service -r server-address [options]
  ipvsadm -d virtual-service -r server-address
  ipvsadm -L|l [virtual-service] [options]
  ipvsadm -Z [virtual-service]
  ipvsadm --set tcp tcpfin udp
  ipvsadm --start-daemon {master|backup} [daemon-options]
  ipvsadm --stop-daemon {master|backup}
  ipvsadm -h
`;

/** lvsd's summary of the commands and options (not ipvsadm's text). */
export const IPVSADM_OPTIONS_HELP = `
Commands (long or short form):
  --add-service -A, --edit-service -E, --delete-service -D, --clear -C, --restore -R (stdin),
  --save -S, --add-server -a, --edit-server -e, --delete-server -d, --list -L|-l, --zero -Z,
  --set tcp tcpfin udp (seconds, 0 keeps a value), --start-daemon, --stop-daemon, --help -h,
  --version -v

virtual-service:
  --tcp-service|-t host[:port]   --udp-service|-u host[:port]   --sctp-service host[:port]
  --fwmark-service|-f mark (1..4294967295; add -6 after it for IPv6)

Service options: --scheduler|-s rr|wrr|lc|wlc|lblc|lblcr|dh|sh|sed|nq|fo|ovf|mh|twos (default wlc),
  --persistent|-p [timeout] (default 360), --netmask|-M mask, --pe sip, --ops|-o (UDP),
  --sched-flags|-b flag-1,flag-2,flag-3,sh-fallback,sh-port,mh-fallback,mh-port
Real-server options: --real-server|-r host[:port], --gatewaying|-g (default), --ipip|-i,
  --masquerading|-m, --weight|-w 0..65535 (default 1), --u-threshold|-x, --l-threshold|-y,
  --tun-type ipip|gue|gre, --tun-port port, --tun-nocsum, --tun-csum, --tun-remcsum
List options: --numeric|-n, --connection|-c, --timeout, --daemon, --stats, --rate, --exact,
  --thresholds, --persistent-conn, --tun-info, --nosort, --sort
Daemon options: --syncid, --sync-maxlen, --mcast-interface, --mcast-group, --mcast-port, --mcast-ttl
lvsd extensions: --fullnat (forwarding method), --laddr addr[,addr...] (FullNAT local addresses)
`;
