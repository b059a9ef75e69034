/**
 * A minimal "director" for the TUN traffic test (run as a script, `--run`, inside the director's
 * namespace): every IP packet the local stack routes into the TUN device --in is encapsulated exactly
 * as lvsd's director does (src/packet/encap.ts) and written into the TUN device --out, from where the
 * kernel forwards the outer packet to the real server. Imported as a test file it does nothing.
 */
import { EncapParams, TUN_GRE, TUN_GUE, TUN_IPIP, encapsulate } from '../../src/packet/encap.js';
import { parseAddress } from '../../src/packet/addr.js';
import { AF_INET, AF_INET6 } from '../../src/packet/view.js';
import type { AgentNative } from '../../src/realserver/agent.js';

async function main(argv: string[]): Promise<void> {
  const arg = (name: string): string => {
    const i = argv.indexOf(name);
    if (i < 0 || i + 1 >= argv.length) throw new Error(`missing ${name}`);
    return argv[i + 1]!;
  };
  const mod = (await import(new URL('../../src/io/native.js', import.meta.url).href)) as {
    native: AgentNative & { read(fd: number, buf: Uint8Array, off: number, len: number): number };
  };
  const n = mod.native;
  const IFF_TUN_NO_PI = 0x0001 | 0x1000;
  const inDev = n.tunOpen(arg('--in'), IFF_TUN_NO_PI);
  const outDev = n.tunOpen(arg('--out'), IFF_TUN_NO_PI);
  const p = new EncapParams();
  const tunType = arg('--tun-type');
  p.tunType = tunType === 'gue' ? TUN_GUE : tunType === 'gre' ? TUN_GRE : TUN_IPIP;
  if (argv.includes('--csum')) p.flags = 1; // TUN_F_CSUM: GRE checksum / GUE UDP checksum
  const src = parseAddress(arg('--src'))!;
  p.outerAf = src.af;
  p.saddr.set(src.words);
  p.daddr.set(parseAddress(arg('--dst'))!.words);
  if (tunType === 'gue') {
    p.tunPort = Number(arg('--port'));
    p.srcPort = 50000;
  }
  const HEADROOM = 128;
  const buf = new Uint8Array(HEADROOM + 65536);
  let ipId = 1;
  n.pollStart(inDev.fd, () => {
    for (;;) {
      const len = n.read(inDev.fd, buf, HEADROOM, 65536);
      if (len < 0) return;
      const v = buf[HEADROOM]! >>> 4;
      if (v !== 4 && v !== 6) continue;
      p.ipId = ipId++;
      const o = encapsulate(buf, HEADROOM, len, v === 4 ? AF_INET : AF_INET6, p);
      n.write(outDev.fd, buf, o, len + p.outOverhead);
    }
  });
  process.on('SIGTERM', () => {
    n.pollStop(inDev.fd);
    n.close(inDev.fd);
    n.close(outDev.fd);
    process.exit(0);
  });
  process.stdout.write('ready\n');
}

if (process.argv[2] === '--run') {
  main(process.argv.slice(3)).catch((e: unknown) => {
    process.stderr.write(`mini-director: ${(e as Error).stack}\n`);
    process.exit(1);
  });
}
