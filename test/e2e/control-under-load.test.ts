/**
 * The control plane stays responsive while the data plane is saturated: a UDP flood through a NAT
 * service (socat writing 64-byte datagrams as fast as it can) keeps the worker busy, and meanwhile
 * `lvsd status`, `ipvsadm -L -n --stats` and a table change still complete. The bound is generous
 * (it only catches a control plane that waits for the flood to end).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { e2eUnavailable, Lab, natTriangle, sleep } from '../helpers/netns.js';

const skip = e2eUnavailable('socat');

test(
  'control plane answers while the data plane is flooded',
  { skip: skip ?? false, timeout: 120000 },
  async () => {
    const lab = new Lab('load');
    try {
      const { c, d, r } = natTriangle(lab, '10.81.0', '172.31.0');
      r.spawn('socat -u UDP-RECV:9000 /dev/null');
      d.sh('ipvsadm -A -u 10.81.0.100:9000 -s rr; ipvsadm -a -u 10.81.0.100:9000 -r 172.31.0.2:9000 -m');
      const before = JSON.parse(d.sh('lvsd status --json')) as { dataplane: { rxFrames: number } };

      const flood = c.spawn('socat -u -b 64 /dev/zero UDP:10.81.0.100:9000');
      try {
        await sleep(1500);
        const times: number[] = [];
        for (let i = 0; i < 3; i++) {
          const t0 = Date.now();
          d.sh('lvsd status --json', { timeoutMs: 20000 });
          d.sh('ipvsadm -L -n --stats', { timeoutMs: 20000 });
          d.sh(`ipvsadm -e -u 10.81.0.100:9000 -r 172.31.0.2:9000 -m -w ${i + 2}`, { timeoutMs: 20000 });
          times.push(Date.now() - t0);
        }
        const st = JSON.parse(d.sh('lvsd status --json')) as {
          dataplane: { rxFrames: number; busyTurns: number };
        };
        const moved = st.dataplane.rxFrames - before.dataplane.rxFrames;
        assert.ok(moved > 10000, `the flood reached the data plane (${moved} frames)`);
        assert.ok(Math.max(...times) < 10000, `control commands took ${times.join(', ')} ms under load`);
        assert.match(d.sh('ipvsadm -L -n'), /-> 172\.31\.0\.2:9000 +Masq +4 /, 'the last edit was applied');
      } finally {
        flood.kill('SIGKILL');
      }
    } finally {
      await lab.cleanup();
    }
  },
);
