/**
 * UDP peers for end-to-end tests, as small Node scripts run inside test namespaces (so the exchange
 * is exact and one client source port can send many datagrams):
 * - an echo server that answers every datagram with `<name>\n` followed by the datagram unchanged;
 * - a client that sends datagrams one at a time from one bound source port and waits for each reply.
 */
import fs from 'node:fs';
import type { ChildProcess } from 'node:child_process';
import type { Lab, Netns } from './netns.js';

const SERVER = `import dgram from 'node:dgram';
import crypto from 'node:crypto';
const [name, host, port] = process.argv.slice(2);
const s = dgram.createSocket('udp4');
s.on('message', (msg, from) => {
  const sha256 = crypto.createHash('sha256').update(msg).digest('hex');
  console.log(JSON.stringify({ name, from: from.address + ':' + from.port, len: msg.length, sha256 }));
  s.send(Buffer.concat([Buffer.from(name + '\\n'), msg]), from.port, from.address);
});
s.bind(Number(port), host, () => console.log('ready'));
`;

const CLIENT = `import dgram from 'node:dgram';
import fs from 'node:fs';
// argv: host port srcPort count payloadFile timeoutMs ; prints one JSON line per datagram
const [host, port, srcPort, count, payloadFile, timeoutMs] = process.argv.slice(2);
const payload = fs.readFileSync(payloadFile);
const s = dgram.createSocket({ type: 'udp4', reuseAddr: true });
await new Promise((r) => s.bind(Number(srcPort), r));
for (let i = 0; i < Number(count); i++) {
  const reply = await new Promise((resolve) => {
    const timer = setTimeout(() => { s.off('message', on); resolve(null); }, Number(timeoutMs));
    const on = (msg) => { clearTimeout(timer); s.off('message', on); resolve(msg); };
    s.on('message', on);
    s.send(payload, Number(port), host);
  });
  if (reply === null) { console.log(JSON.stringify({ name: 'TIMEOUT', intact: false, len: 0 })); continue; }
  const nl = reply.indexOf(10);
  const body = reply.subarray(nl + 1);
  console.log(JSON.stringify({ name: reply.subarray(0, nl).toString(), intact: body.equals(payload), len: body.length }));
}
s.close();
`;

export interface UdpReply {
  /** the answering server's name, or TIMEOUT */
  name: string;
  /** the echoed datagram equals the one sent, byte for byte */
  intact: boolean;
  len: number;
}

function script(lab: Lab, file: string, text: string): string {
  const p = lab.file(file);
  if (!fs.existsSync(p)) fs.writeFileSync(p, text);
  return p;
}

/** One datagram an echo server received (it answers `<name>\n` + the datagram). */
export interface EchoLog {
  name: string;
  /** client address:port as the server saw it */
  from: string;
  len: number;
  sha256: string;
}

/**
 * Start the echo server in ns on host:port; resolves once it is bound. Every datagram it receives is
 * reported to onDatagram. Killed by Lab.cleanup.
 */
export async function startUdpEcho(
  lab: Lab,
  ns: Netns,
  name: string,
  host: string,
  port: number,
  onDatagram: (r: EchoLog) => void = () => {},
): Promise<ChildProcess> {
  const p = script(lab, 'udp-echo.mjs', SERVER);
  const child = ns.spawn(`exec ${process.execPath} ${p} ${name} ${host} ${port}`);
  await new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`udp echo ${name} did not start`)), 10000);
    let pending = '';
    child.stdout?.on('data', (d: Buffer) => {
      pending += d.toString();
      const lines = pending.split('\n');
      pending = lines.pop()!;
      for (const line of lines) {
        if (line === 'ready') {
          clearTimeout(timer);
          resolve();
        } else if (line.startsWith('{')) onDatagram(JSON.parse(line) as EchoLog);
      }
    });
    child.on('exit', (c) => reject(new Error(`udp echo ${name} exited ${c}`)));
  });
  return child;
}

/** Send `count` copies of `payload` from srcPort in ns to host:port, one at a time, and return the replies. */
export function udpExchange(
  lab: Lab,
  ns: Netns,
  o: { host: string; port: number; srcPort: number; count: number; payload: Uint8Array; timeoutMs?: number },
): UdpReply[] {
  const p = script(lab, 'udp-client.mjs', CLIENT);
  const payloadFile = lab.file(`udp-payload-${o.srcPort}`);
  fs.writeFileSync(payloadFile, o.payload);
  const out = ns.sh(
    `${process.execPath} ${p} ${o.host} ${o.port} ${o.srcPort} ${o.count} ${payloadFile} ${o.timeoutMs ?? 1000}`,
    { timeoutMs: 30000 },
  );
  return out
    .trim()
    .split('\n')
    .filter(Boolean)
    .map((l) => JSON.parse(l) as UdpReply);
}
