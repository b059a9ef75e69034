/**
 * Micro-benchmarks for the packet hot functions (DESIGN hot-path rule 11).
 * Run: npx tsc -p . && node dist/bench/packet.bench.js   — prints a markdown table of ns/op.
 */
import { parseFrame } from '../src/packet/parse.js';
import { PacketView, AF_INET } from '../src/packet/view.js';
import { sumBytes, finish, updateL4ForAddressChange, updateL4ForPortChange } from '../src/packet/checksum.js';
import { crc32c } from '../src/packet/sctp.js';
import { eth, ipv4, tcp, bytesOf } from '../src/packet/builder.js';

function bench(name: string, iters: number, fn: (i: number) => number): [string, number] {
  let sink = 0;
  for (let i = 0; i < Math.min(iters, 200_000); i++) sink ^= fn(i); // warm-up (JIT)
  const t0 = process.hrtime.bigint();
  for (let i = 0; i < iters; i++) sink ^= fn(i);
  const t1 = process.hrtime.bigint();
  if (sink === 0x7fffffff) console.log('');
  return [name, Number(t1 - t0) / iters];
}

const frame = eth(
  {},
  ipv4({ src: '192.0.2.1', dst: '198.51.100.1' }, tcp({ sport: 40000, dport: 80, payload: bytesOf(10) })),
);
const buf64 = new Uint8Array(2048);
buf64.set(frame, 128);
const v = new PacketView();
parseFrame(buf64, 128, 64, v);
const a = new Uint32Array([0xc6336401, 0, 0, 0]);
const b = new Uint32Array([0x0a000005, 0, 0, 0]);
const big = bytesOf(1500, 5);

const rows: [string, number][] = [
  bench('parseFrame TCP/IPv4 64 B', 5_000_000, () => parseFrame(buf64, 128, 64, v)),
  bench('incremental L4 update (addr + port)', 5_000_000, (i) => {
    if (i & 1) {
      updateL4ForAddressChange(buf64, v.l4CsumOff, a, b, AF_INET, false, false);
      updateL4ForPortChange(buf64, v.l4CsumOff, 80, 8080, false, false);
    } else {
      updateL4ForAddressChange(buf64, v.l4CsumOff, b, a, AF_INET, false, false);
      updateL4ForPortChange(buf64, v.l4CsumOff, 8080, 80, false, false);
    }
    return buf64[v.l4CsumOff]!;
  }),
  bench('full checksum 1500 B', 500_000, () => finish(sumBytes(big, 0, 1500, 0))),
  bench('CRC32c 1500 B', 200_000, () => crc32c(big, 0, 1500)),
];

console.log('| function | ns/op |');
console.log('|---|---:|');
for (const [n, ns] of rows) console.log(`| ${n} | ${ns.toFixed(1)} |`);
