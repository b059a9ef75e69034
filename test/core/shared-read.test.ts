/**
 * The control side reads connections and counters without stopping the data plane: a worker thread
 * attaches to the ConnTable's and StatsShard's SharedArrayBuffers and sees what the engine wrote.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Worker } from 'node:worker_threads';
import { fileURLToPath, pathToFileURL } from 'node:url';
import path from 'node:path';
import { makeTopo, w, MAC } from '../helpers/topo.js';
import { eth, ipv4, tcp } from '../../src/packet/builder.js';
import { FWD_MASQ } from '../../src/core/services.js';
import { IPPROTO_TCP, TCP_SYN } from '../../src/packet/view.js';

const here = path.dirname(fileURLToPath(import.meta.url));

test('a worker thread attached to the shared buffers reads live connections and counters', async () => {
  const t = makeTopo();
  const key = { af: 4, proto: IPPROTO_TCP, addr: w('10.0.0.100'), port: 80 };
  t.d.services.addService(key, { scheduler: 'rr' });
  t.d.services.addDest(key, { addr: w('172.16.0.2'), port: 80, fwd: FWD_MASQ });
  for (let c = 0; c < 25; c++) {
    t.wire.inject(
      1,
      eth(
        { src: MAC.client, dst: MAC.eth0 },
        ipv4({ src: '10.0.0.2', dst: '10.0.0.100' }, tcp({ sport: 20000 + c, dport: 80, flags: TCP_SYN })),
      ),
    );
  }
  t.run(1000);
  assert.equal(t.d.conns.count, 25);
  const tableUrl = pathToFileURL(path.resolve(here, '../../src/conn/table.js')).href;
  const statsUrl = pathToFileURL(path.resolve(here, '../../src/core/stats.js')).href;
  const code = `
    const { parentPort, workerData } = require('node:worker_threads');
    (async () => {
      const { ConnTable } = await import(workerData.tableUrl);
      const { StatsShard, STAT_CONNS, STAT_INPKTS } = await import(workerData.statsUrl);
      const t = ConnTable.attach(workerData.conns);
      const s = new StatsShard(workerData.svcCap, workerData.destCap, workerData.stats);
      let seen = 0;
      t.forEach(() => seen++);
      parentPort.postMessage({ count: t.count, seen, conns: s.data[STAT_CONNS], inpkts: s.data[STAT_INPKTS] });
    })();
  `;
  const worker = new Worker(code, {
    eval: true,
    workerData: {
      tableUrl,
      statsUrl,
      conns: t.d.conns.buffer,
      stats: t.d.stats.buffer,
      svcCap: t.d.stats.serviceCapacity,
      destCap: t.d.stats.destCapacity,
    },
  });
  const msg = await new Promise<{ count: number; seen: number; conns: number; inpkts: number }>(
    (resolve, reject) => {
      worker.once('message', resolve);
      worker.once('error', reject);
    },
  );
  await worker.terminate();
  assert.deepEqual(msg, { count: 25, seen: 25, conns: 25, inpkts: 25 });
});
