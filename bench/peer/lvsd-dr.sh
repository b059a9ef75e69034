# contender 'lvsd-dr': lvsd (userspace LVS) in LVS-DR (-g); :80 rr, :5201 rr -p 300. See lvsd.inc.sh.
LVSD_FWD=g
. "$(dirname "$(readlink -f "${BASH_SOURCE[0]}")")/lvsd.inc.sh"
