/**
 * Crafted frames on the wire for end-to-end tests: a small python3 sender with a raw AF_PACKET socket
 * (the kernel adds nothing: the frame goes out as built, malformed or not). Frames are passed as hex
 * lines in a file; the sender paces them at a given rate and reports how many the kernel accepted
 * (send() refuses some, e.g. frames shorter than an Ethernet header without CAP_SYS_RAWIO).
 */
import fs from 'node:fs';
import type { ChildProcess } from 'node:child_process';
import type { Lab, Netns } from './netns.js';

const SENDER = `import socket, sys, time
ifname, path, rate = sys.argv[1], sys.argv[2], float(sys.argv[3])
frames = [bytes.fromhex(l) for l in open(path) if l.strip()]
s = socket.socket(socket.AF_PACKET, socket.SOCK_RAW)
s.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 4 << 20)
s.bind((ifname, 0))
sent = refused = 0
t0 = time.monotonic()
for i, f in enumerate(frames):
    while True:
        try:
            s.send(f)
            sent += 1
        except BlockingIOError:
            time.sleep(0.001)
            continue
        except OSError:
            refused += 1
        break
    if rate > 0 and i % 50 == 49:
        ahead = t0 + (i + 1) / rate - time.monotonic()
        if ahead > 0:
            time.sleep(ahead)
print(sent, refused)
`;

export interface SendResult {
  sent: number;
  refused: number;
}

function prepare(lab: Lab, frames: readonly Uint8Array[], tag: string): { script: string; data: string } {
  const script = lab.file('rawsend.py');
  if (!fs.existsSync(script)) fs.writeFileSync(script, SENDER);
  const data = lab.file(`frames-${tag}.hex`);
  fs.writeFileSync(data, frames.map((f) => Buffer.from(f).toString('hex')).join('\n') + '\n');
  return { script, data };
}

function parse(out: string): SendResult {
  const [sent, refused] = out.trim().split(/\s+/).map(Number);
  return { sent: sent ?? 0, refused: refused ?? 0 };
}

/** Send frames out of ifname in ns at `rate` frames/s (0: as fast as possible); waits for the end. */
export function sendFrames(
  lab: Lab,
  ns: Netns,
  ifname: string,
  frames: readonly Uint8Array[],
  rate = 0,
  tag = 'batch',
): SendResult {
  const { script, data } = prepare(lab, frames, tag);
  return parse(ns.sh(`python3 ${script} ${ifname} ${data} ${rate}`, { timeoutMs: 120000 }));
}

/** The same in the background: resolves with the sender's result when it has sent everything. */
export function sendFramesAsync(
  lab: Lab,
  ns: Netns,
  ifname: string,
  frames: readonly Uint8Array[],
  rate: number,
  tag: string,
): { child: ChildProcess; done: Promise<SendResult> } {
  const { script, data } = prepare(lab, frames, tag);
  const child = ns.spawn(`exec python3 ${script} ${ifname} ${data} ${rate}`);
  let out = '';
  let err = '';
  child.stdout?.on('data', (d: Buffer) => (out += d.toString()));
  child.stderr?.on('data', (d: Buffer) => (err += d.toString()));
  const done = new Promise<SendResult>((resolve, reject) =>
    child.on('exit', (code) =>
      code === 0 ? resolve(parse(out)) : reject(new Error(`raw sender exited ${code}: ${err}`)),
    ),
  );
  return { child, done };
}
