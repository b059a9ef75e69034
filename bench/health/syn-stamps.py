#!/usr/bin/env python3
"""syn-stamps.py IFACE OUT SECONDS -- kernel receive timestamps of TCP SYNs (no ACK) seen on IFACE.

Used by bench/health/transit.sh to measure how long the director holds a packet: run once on the
client's interface (its SYNs leaving) and once on a real server's (the same SYNs arriving after the
director). An AF_PACKET socket with a classic-BPF filter (IPv4, TCP, IHL 5, flags == SYN) keeps the
capture cheap; SO_TIMESTAMPNS gives the kernel's timestamp per frame. Writes "sport ns" lines."""
import socket, struct, sys, time

iface, out, seconds = sys.argv[1], sys.argv[2], float(sys.argv[3])
ETH_P_ALL = 0x0003
SO_ATTACH_FILTER = 26
SO_TIMESTAMPNS = 35
# ldh [12]; jeq #0x800, next, drop; ldb [23]; jeq #6, next, drop; ldb [14]; jeq #0x45, next, drop;
# ldb [47]; jeq #0x02, accept, drop; accept: ret #128; drop: ret #0
prog = [
    (0x28, 0, 0, 12), (0x15, 0, 7, 0x0800),
    (0x30, 0, 0, 23), (0x15, 0, 5, 6),
    (0x30, 0, 0, 14), (0x15, 0, 3, 0x45),
    (0x30, 0, 0, 47), (0x15, 0, 1, 0x02),
    (0x06, 0, 0, 128), (0x06, 0, 0, 0),
]
code = b''.join(struct.pack('HBBI', *i) for i in prog)
buf = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, socket.htons(ETH_P_ALL))
import ctypes
cbuf = ctypes.create_string_buffer(code)
fprog = struct.pack('HL', len(prog), ctypes.addressof(cbuf))
buf.setsockopt(socket.SOL_SOCKET, SO_ATTACH_FILTER, fprog)
buf.setsockopt(socket.SOL_SOCKET, SO_TIMESTAMPNS, 1)
buf.bind((iface, 0))
buf.settimeout(0.5)
end = time.time() + seconds
rows = []
while time.time() < end:
    try:
        data, anc, _flags, _addr = buf.recvmsg(128, 64)
    except socket.timeout:
        continue
    ns = 0
    for level, typ, val in anc:
        if level == socket.SOL_SOCKET and typ == SO_TIMESTAMPNS:
            s, n = struct.unpack('qq', val[:16])
            ns = s * 1_000_000_000 + n
    if len(data) >= 38:
        rows.append(f"{struct.unpack('!H', data[34:36])[0]} {ns}\n")
with open(out, 'w') as f:
    f.writelines(rows)
