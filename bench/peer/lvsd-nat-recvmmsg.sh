# contender 'lvsd-nat-recvmmsg': lvsd-nat receiving with recvmmsg from the socket queue instead of the
# TPACKET_V2 ring (LVSD_RX_RING=0 = --rx-ring 0), for comparison with 'lvsd-nat' (ring, the default).
LVSD_FWD=m
export LVSD_RX_RING=0
. "$(dirname "$(readlink -f "${BASH_SOURCE[0]}")")/lvsd.inc.sh"
