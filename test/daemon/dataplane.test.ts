import { test } from 'node:test';
import assert from 'node:assert/strict';
import { DataPlane } from '../../src/daemon/dataplane.js';
import { planeDeps } from '../../src/daemon/plane-deps.js';
import { MemoryWire } from '../../src/io/memory.js';
import type { SteeringSpec } from '../../src/io/steering.js';

function plane(): DataPlane {
  const p = new DataPlane(new MemoryWire(), planeDeps, { maxConns: 1024 });
  p.setLocal({ addrs4: ['10.0.0.1', '10.0.0.100'] });
  p.setCapture([{ ifindex: 1, name: 'eth0' }]);
  return p;
}

test('a table change is held from the engine until commit, and its steering spec is returned first', () => {
  const p = plane();
  const d = p.director;
  const { result, spec } = p.ipvsadm(['-A', '-t', '10.0.0.100:80', '-s', 'rr'], undefined);
  assert.equal(result.code, 0, result.stderr);
  assert.equal(result.changed, true);
  // steering for the new service is computed now, so the daemon can install it after the commit
  assert.deepEqual(
    (spec as SteeringSpec).services.map((t) => [t.addr, t.proto, t.portLo]),
    [['10.0.0.100', 6, 80]],
  );
  // ... but the engine has not adopted the change yet (held: steering is applied around the commit)
  d.sync();
  assert.equal(d.engine.snapshot?.services.length ?? 0, 0);
  p.commit();
  assert.equal(d.engine.snapshot?.services.length, 1);

  // a read-only command changes nothing and holds nothing
  const l = p.ipvsadm(['-L', '-n'], undefined);
  assert.equal(l.result.changed, false);
  assert.equal(d.holdSnapshot, false);

  // delete: the spec without the service comes back before the engine forgets it
  const del = p.ipvsadm(['-D', '-t', '10.0.0.100:80'], undefined);
  assert.deepEqual((del.spec as SteeringSpec).services, []);
  d.sync();
  assert.equal(d.engine.snapshot?.services.length, 1, 'engine still serves it until steering is removed');
  p.commit();
  assert.equal(d.engine.snapshot?.services.length, 0);
  p.close();
});

test('a VIP that is not a local address is not steered; fwmark rules reach the spec', () => {
  const p = plane();
  p.ipvsadm(['-A', '-t', '10.0.0.200:80', '-s', 'rr'], undefined);
  p.commit();
  assert.deepEqual(p.currentSpec().services, []);
  p.fwmark(['add', '--mark', '5', '--dst', '10.0.0.100', '--proto', 'tcp', '--dport', '443']);
  p.ipvsadm(['-A', '-f', '5', '-s', 'rr'], undefined);
  p.commit();
  assert.equal(p.currentSpec().fwmark.length, 1);
  p.close();
});
