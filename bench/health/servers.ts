/**
 * Child process of the health benchmark: N TCP listeners and N HTTP listeners on 127.0.0.1 (or argv[3]), each on
 * its own port (so every real server is a distinct address:port). Prints one JSON line
 * {"tcp":[ports],"http":[ports]} when listening; exits when stdin closes.
 */
import net from 'node:net';
import http from 'node:http';
import type { AddressInfo } from 'node:net';

const n = Number(process.argv[2] ?? 500);
/** listen address (default 127.0.0.1); bench/health/transit.sh puts the targets in their own namespace */
const host = process.argv[3] ?? '127.0.0.1';
const body = 'ok\n';

async function listen(s: net.Server): Promise<number> {
  return new Promise((r) => s.listen(0, host, 1024, () => r((s.address() as AddressInfo).port)));
}

const tcp: number[] = [];
const web: number[] = [];
for (let i = 0; i < n; i++) {
  tcp.push(await listen(net.createServer((s) => s.on('error', () => {}).end())));
  const h = http.createServer((_req, res) => {
    res.setHeader('Content-Length', body.length);
    res.end(body);
  });
  h.keepAliveTimeout = 1000;
  web.push(await listen(h));
}
process.stdout.write(JSON.stringify({ tcp, http: web }) + '\n');
process.stdin.resume();
process.stdin.on('end', () => process.exit(0));
