/**
 * Long-lived TCP streams for failover tests: a Node client in a client namespace opens N
 * connections to host:port, writes one line every 100 ms on each and counts the lines echoed back
 * (socat EXEC:cat on the real servers). Every 200 ms it writes a per-stream report (sent, echoed,
 * error code, closed, local port) to a JSON file the test reads. A stream that failed over cleanly
 * keeps echoing with neither an error nor a close.
 */
import fs from 'node:fs';
import type { ChildProcess } from 'node:child_process';
import type { Lab, Netns } from './netns.js';

/** The stream client: `node client.mjs HOST PORT N REPORT_FILE`. */
export const STREAM_CLIENT = `
import net from 'node:net';
import fs from 'node:fs';
const [host, port, n, out] = process.argv.slice(2);
const streams = [];
for (let i = 0; i < Number(n); i++) {
  const s = { id: i, sent: 0, echoed: 0, err: null, closed: false, connected: false, lport: 0, buf: '' };
  const sock = net.connect({ host, port: Number(port) });
  sock.setNoDelay(true);
  sock.on('connect', () => { s.connected = true; s.lport = sock.localPort; });
  sock.on('data', (d) => {
    s.buf += d;
    let k;
    while ((k = s.buf.indexOf('\\n')) >= 0) { s.buf = s.buf.slice(k + 1); s.echoed++; }
  });
  sock.on('error', (e) => { s.err = e.code || String(e); });
  sock.on('close', () => { s.closed = true; });
  s.sock = sock;
  streams.push(s);
}
setInterval(() => {
  for (const s of streams) if (s.connected && !s.closed) s.sock.write(s.id + ':' + s.sent++ + '\\n');
}, 100);
setInterval(() => {
  const rep = streams.map(({ id, sent, echoed, err, closed, lport }) => ({ id, sent, echoed, err, closed, lport }));
  fs.writeFileSync(out + '.tmp', JSON.stringify(rep));
  fs.renameSync(out + '.tmp', out);
}, 200);
`;

export interface StreamReport {
  id: number;
  sent: number;
  echoed: number;
  err: string | null;
  closed: boolean;
  lport: number;
}

export class Streams {
  readonly file: string;
  readonly child: ChildProcess;

  /** Start `n` streams from `client` to host:port; files go to the lab's scratch dir under `tag`. */
  constructor(lab: Lab, client: Netns, host: string, port: number, n: number, tag = 'streams') {
    this.file = lab.file(`${tag}.json`);
    const script = lab.file(`${tag}-client.mjs`);
    fs.writeFileSync(script, STREAM_CLIENT);
    this.child = client.spawn(`exec node ${script} ${host} ${port} ${n} ${this.file}`);
  }

  /** The latest report ([] before the first one). */
  report(): StreamReport[] {
    try {
      return JSON.parse(fs.readFileSync(this.file, 'utf8')) as StreamReport[];
    } catch {
      return [];
    }
  }
}

/**
 * Streams of `now` that kept going since `before`: no error, not closed, and at least `growth`
 * more lines echoed.
 */
export function continuing(before: StreamReport[], now: StreamReport[], growth: number): StreamReport[] {
  return now.filter((s) => {
    const b = before.find((x) => x.id === s.id);
    return b !== undefined && s.err === null && !s.closed && s.echoed >= b.echoed + growth;
  });
}

/** The streams that failed or stalled, for an assertion message. */
export function stalled(before: StreamReport[], now: StreamReport[], growth: number): string {
  const ok = new Set(continuing(before, now, growth).map((s) => s.id));
  return JSON.stringify(
    now
      .filter((s) => !ok.has(s.id))
      .map((s) => ({ ...s, echoedBefore: before.find((x) => x.id === s.id)?.echoed ?? null })),
  );
}
