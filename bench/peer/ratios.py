#!/usr/bin/env python3
"""ratios.py raw.tsv [DUR] -> markdown: lvsd-nat / lvsd-dr against direct, nft-nat, haproxy, nginx (medians over
the harness' kept runs, same MAX_FOREIGN rule as the harness' summarize.py), plus LB CPU us per new connection.
p99 latency ratios are contender / peer, so < 1 means lvsd's p99 is lower (better)."""
import sys, os, statistics as st
from collections import defaultdict
MAXF = float(os.environ.get('MAX_FOREIGN', '1.0'))
fn = sys.argv[1]; DUR = float(sys.argv[2] if len(sys.argv) > 2 else os.environ.get('DUR', '10'))
rows = [l.rstrip('\n').split('\t') for l in open(fn) if l.strip()]
bad = {(c, r, t) for c, r, t, m, v in rows if m == 'foreign_s' and v not in ('', 'NA') and float(v) > MAXF}
d = defaultdict(list)
for c, r, t, m, v in rows:
    if (c, r, t) not in bad and v not in ('', 'NA'): d[(c, t, m)].append(float(v) if m != 'rs_reqs' else v)
def med(c, t, m):
    v = d.get((c, t, m)); return st.median(v) if v else None
def cpu_us(c):
    cpu, rate = med(c, 'close', 'lb_cpu_s'), med(c, 'close', 'rate')
    return None if cpu is None or not rate else 1e6 * cpu / (rate * DUR)
peers = ['direct', 'nft-nat', 'haproxy', 'nginx']
metrics = [('close', 'rate', 'new conn/s'), ('ka', 'rate', 'keep-alive req/s'), ('iperf', 'gbps', 'iperf3 Gbit/s'),
           ('close', 'p99_ms', 'close p99 ms'), ('ka', 'p99_ms', 'keep-alive p99 ms')]
print(f"_runs dropped for other tenants' CPU > {MAXF} s: {len(bad)}_\n")
print('| contender | metric | value | ' + ' | '.join(f'x{p}' for p in peers) + ' |')
print('|---|---|---:|' + '---:|' * len(peers))
for c in ['lvsd-nat', 'lvsd-dr']:
    for t, m, name in metrics:
        v = med(c, t, m)
        rs = ['-' if v is None or not med(p, t, m) else f'{v / med(p, t, m):.2f}' for p in peers]
        print(f"| {c} | {name} | {'-' if v is None else f'{v:,.2f}' if m != 'rate' else f'{v:,.0f}'} | " + ' | '.join(rs) + ' |')
print('\n| contender | LB CPU s (close) | new conns (close) | LB CPU us per new conn |')
print('|---|---:|---:|---:|')
for c in ['lvsd-nat', 'lvsd-dr', 'haproxy', 'nginx', 'pen']:
    if (c, 'close', 'rate') not in d: continue
    u = cpu_us(c); cpu = med(c, 'close', 'lb_cpu_s'); rate = med(c, 'close', 'rate')
    print(f"| {c} | {'-' if cpu is None else f'{cpu:.2f}'} | {rate * DUR:,.0f} | {'-' if u is None else f'{u:.1f}'} |")
