/**
 * HealthManager end to end with the real clock and real checkers: a TCP server on 127.0.0.1 goes
 * away and comes back; the destination follows.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import net from 'node:net';
import type { AddressInfo } from 'node:net';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { HealthManager } from '../../src/health/index.js';
import { RecordingActions, config, rs, tcp, vs } from './helpers.js';

async function until(cond: () => boolean, ms = 5000): Promise<void> {
  const end = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > end) throw new Error('condition not reached');
    await new Promise((r) => setTimeout(r, 20));
  }
}

test('real TCP_CHECK drives DEL_DEST / ADD_DEST as a server stops and restarts', async () => {
  const sockets = new Set<net.Socket>();
  const mk = () =>
    net.createServer((s) => {
      sockets.add(s);
      s.on('error', () => {});
    });
  let server = mk();
  const port = await new Promise<number>((r) =>
    server.listen(0, '127.0.0.1', () => r((server.address() as AddressInfo).port)),
  );
  const actions = new RecordingActions({ now: () => Date.now() });
  const dir = mkdtempSync(join(tmpdir(), 'lvsd-hm-'));
  const marker = join(dir, 'events');
  const notify = (what: string) => ({ command: what, argv: ['sh', '-c', `echo ${what} >> ${marker}`] });
  const logs: string[] = [];
  const hm = new HealthManager({ actions, log: (_l, m) => logs.push(m) });
  const timing = { delayLoop: 0.05, delayBeforeRetry: 0.02, connectTimeout: 0.5, retry: 1 };
  try {
    await hm.start(
      config([
        vs('R', [
          rs('127.0.0.1', port, {
            checkers: [tcp('127.0.0.1', port, timing)],
            notifyUp: notify('up'),
            notifyDown: notify('down'),
          }),
        ]),
      ]),
    );
    assert.deepEqual(actions.view('R'), [`127.0.0.1:${port}=1`]);
    await until(() => (hm.status().virtualServers[0]!.realServers[0]!.checkers[0]!.successes ?? 0) >= 2);
    await new Promise<void>((r) => server.close(() => r()));
    for (const s of sockets) s.destroy();
    await until(() => actions.view('R').length === 0);
    const st = hm.status().virtualServers[0]!.realServers[0]!;
    assert.equal(st.alive, false);
    assert.equal(st.checkers[0]!.reason, 'connection refused');
    server = mk();
    await new Promise<void>((r) => server.listen(port, '127.0.0.1', () => r()));
    await until(() => actions.view('R').length === 1);
    assert.equal(hm.status().virtualServers[0]!.realServers[0]!.alive, true);
    // the default script runner spawned notify_down then notify_up (not awaited: poll the file)
    await until(() => existsSync(marker) && readFileSync(marker, 'utf8') === 'down\nup\n');
    assert.ok(logs.includes(`Removing service 127.0.0.1:${port} from VS R`));
  } finally {
    rmSync(dir, { recursive: true, force: true });
    await hm.stop();
    await new Promise<void>((r) => server.close(() => r()));
    for (const s of sockets) s.destroy();
  }
});
