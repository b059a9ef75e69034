# contender 'lvsd-nat': lvsd (userspace LVS) in LVS-NAT (-m); :80 rr, :5201 rr -p 300. See lvsd.inc.sh.
LVSD_FWD=m
. "$(dirname "$(readlink -f "${BASH_SOURCE[0]}")")/lvsd.inc.sh"
