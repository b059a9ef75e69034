/**
 * `ipvsadm -f` services with lvsd's own mark rules: ports 80 and 8080 of the VIP grouped under mark 1
 * (the classic "HTTP + alternate port as one service" use), NAT to one real server; a port outside
 * the rule is not taken by lvsd. Removing the rule gives the traffic back to the kernel.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { e2eUnavailable, Lab, natTriangle } from '../helpers/netns.js';
import { startNginx } from '../helpers/servers.js';

const skip = e2eUnavailable('curl', 'nginx');

test(
  'fwmark service: lvsd fwmark rules group two ports into one NAT service',
  { skip: skip ?? false, timeout: 90000 },
  async () => {
    const lab = new Lab('fwm');
    try {
      const { c, d, r } = natTriangle(lab, '10.61.0', '172.30.0');
      startNginx(lab, r, { listen: ['172.30.0.2:80', '172.30.0.2:8080'], body: 'rs' });
      // a listener on the director's own VIP:9000, outside the rule: must stay the kernel's
      d.spawn('socat TCP-LISTEN:9000,bind=10.61.0.100,reuseaddr,fork SYSTEM:"echo director"');

      d.sh('lvsd fwmark add --mark 1 --dst 10.61.0.100 --proto tcp --dport 80');
      d.sh('lvsd fwmark add --mark 1 --dst 10.61.0.100 --proto tcp --dport 8080');
      d.sh('ipvsadm -A -f 1 -s rr; ipvsadm -a -f 1 -r 172.30.0.2:0 -m');
      assert.equal(
        d.sh('lvsd fwmark list'),
        'lvsd fwmark add --mark 1 --dst 10.61.0.100/32 --proto tcp --dport 80\n' +
          'lvsd fwmark add --mark 1 --dst 10.61.0.100/32 --proto tcp --dport 8080\n',
      );
      const diag = (): string => d.run('ipvsadm -L -n --stats; lvsd status').stdout;
      for (const port of [80, 8080])
        assert.equal(
          c.sh(`curl -s --max-time 5 http://10.61.0.100:${port}/`),
          'rs\n',
          `port ${port}\n${diag()}`,
        );
      assert.equal(c.sh('socat -T 3 - TCP:10.61.0.100:9000 </dev/null').trim(), 'director', diag());
      assert.match(d.sh('ipvsadm -L -n'), /\nFWM {2}1 rr\n {2}-> 172\.30\.0\.2:0 +Masq +1 /);
      const stats = d.sh('ipvsadm -L -n --stats');
      const conns = stats.match(/\nFWM {2}1 +(\d+)/);
      assert.ok(conns && Number(conns[1]) === 2, stats);

      // Without the rule the packets are the kernel's again (nothing listens there: refused).
      d.sh('lvsd fwmark flush');
      const refused = c.run('curl -s --max-time 3 http://10.61.0.100:80/');
      assert.notEqual(refused.status, 0, 'after flush the kernel answers (RST), lvsd does not forward');
    } finally {
      await lab.cleanup();
    }
  },
);
