# contender 'lvsd-dr-nooffload': lvsd in LVS-DR (-g) with the DR kernel fast path off (every frame through
# lvsd's AF_PACKET path), for comparison with 'lvsd-dr' (fast path on, the default). See lvsd.inc.sh.
LVSD_FWD=g
export LVSD_OFFLOAD_THRESHOLD=0
. "$(dirname "$(readlink -f "${BASH_SOURCE[0]}")")/lvsd.inc.sh"
