import { test } from 'node:test';
import assert from 'node:assert/strict';
import { makeTopo } from '../helpers/topo.js';
import { cTcp } from '../helpers/flows.js';
import { executeIpvsadm } from '../../src/cli/ipvsadm/index.js';
import { TCP_SYN } from '../../src/packet/view.js';

test('a service deleted and added again starts from zero counters (a new ip_vs_service); its revived real server keeps its own', () => {
  const t = makeTopo();
  const run = (...argv: string[]): string => {
    const r = executeIpvsadm(argv, { director: t.d, nowMs: 1000 });
    assert.equal(r.code, 0, r.stderr);
    return r.stdout;
  };
  run('-A', '-t', '10.0.0.100:80', '-s', 'rr');
  run('-a', '-t', '10.0.0.100:80', '-r', '172.16.0.2:80', '-m');
  t.wire.inject(1, cTcp('10.0.0.2', 40000, { flags: TCP_SYN }));
  t.run(1000);
  const svcConns = (s: string): number => Number(/\nTCP {2}10\.0\.0\.100:80 +(\d+)/.exec(s)![1]);
  const destConns = (s: string): number => Number(/\n {2}-> 172\.16\.0\.2:80 +(\d+)/.exec(s)![1]);
  let stats = run('-L', '-n', '--stats');
  assert.equal(svcConns(stats), 1, stats);
  run('-D', '-t', '10.0.0.100:80');
  run('-A', '-t', '10.0.0.100:80', '-s', 'rr');
  run('-a', '-t', '10.0.0.100:80', '-r', '172.16.0.2:80', '-m');
  t.run(1001);
  stats = run('-L', '-n', '--stats');
  assert.equal(svcConns(stats), 0, stats);
  assert.equal(destConns(stats), 1, `the dest came back from the trash with its counters\n${stats}`);
});
