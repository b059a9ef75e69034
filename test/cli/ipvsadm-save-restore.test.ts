/**
 * bin/ipvsadm-save and bin/ipvsadm-restore, the wrappers tutorials call (ipvs-reference §2.7:
 * `ipvsadm-save [-n]` runs `ipvsadm -S $NUMERIC`, `ipvsadm-restore` runs `ipvsadm -R`), in a
 * namespace of their own with its lvsd daemon (root only).
 */
import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { Lab, netnsUnavailable } from '../helpers/netns.js';

const skip = netnsUnavailable();
const lab = skip ? null : new Lab('sav');
after(async () => {
  if (lab) await lab.cleanup();
});

test(
  'ipvsadm-save -n > file; ipvsadm -C; ipvsadm-restore < file brings the table back',
  { skip: skip ?? false },
  () => {
    const d = lab!.ns('d');
    d.sh('ip link add sv0 type veth peer name sv1 && ip link set sv0 up && ip link set sv1 up');
    d.sh('ip addr add 10.91.0.1/24 dev sv0');
    try {
      d.sh('ipvsadm -A -t 10.91.0.100:80 -s rr -p 120');
      d.sh('ipvsadm -a -t 10.91.0.100:80 -r 10.91.0.11:80 -m -w 2');
      d.sh('ipvsadm -a -t 10.91.0.100:80 -r 10.91.0.12:80 -m');
      d.sh('ipvsadm -A -u 10.91.0.100:53 -s wlc');
      const rules =
        '-A -t 10.91.0.100:80 -s rr -p 120\n' +
        '-a -t 10.91.0.100:80 -r 10.91.0.11:80 -m -w 2\n' +
        '-a -t 10.91.0.100:80 -r 10.91.0.12:80 -m -w 1\n' +
        '-A -u 10.91.0.100:53 -s wlc\n';
      const saved = d.run('ipvsadm-save -n');
      assert.deepEqual(saved, { status: 0, stdout: rules, stderr: '' });
      // without -n it is `ipvsadm -S`: the same rules with names (80/tcp and 53/udp in /etc/services)
      assert.equal(d.sh('ipvsadm-save'), d.sh('ipvsadm -S'));
      const listed = d.sh('ipvsadm -L -n');
      d.sh('ipvsadm -C');
      assert.equal(d.sh('ipvsadm-save -n'), '');
      const restored = d.run('ipvsadm-restore', { input: saved.stdout });
      assert.deepEqual(restored, { status: 0, stdout: '', stderr: '' });
      assert.equal(d.sh('ipvsadm -L -n'), listed);
      assert.equal(d.sh('ipvsadm-save -n'), rules);
    } finally {
      d.run('lvsd stop');
    }
  },
);

test(
  'the LVS-HOWTO way: real servers named in /etc/hosts, edited while lvsd runs',
  { skip: skip ?? false },
  () => {
    const d = lab!.ns('h');
    // `ip netns exec` bind-mounts /etc/netns/<ns>/hosts over /etc/hosts, for this namespace only
    const etc = `/etc/netns/${d.name}`;
    mkdirSync(etc, { recursive: true });
    const hosts = `${etc}/hosts`;
    writeFileSync(hosts, '127.0.0.1 localhost\n10.92.0.100 lvs.example lvs\n10.92.0.11 rs1.example rs1\n');
    try {
      d.sh('ip link add hv0 type veth peer name hv1 && ip link set hv0 up && ip link set hv1 up');
      d.sh('ip addr add 10.92.0.1/24 dev hv0');
      d.sh('ipvsadm -A -t lvs.example:http -s rr');
      d.sh('ipvsadm -a -t lvs:http -r rs1:http -m');
      // a second real server added to /etc/hosts (in place: the bind mount keeps the inode) while
      // the daemon runs; ipvsadm reads the file on every invocation
      writeFileSync(hosts, readFileSync(hosts, 'utf8') + '10.92.0.12 rs2.example rs2\n');
      const added = d.run('ipvsadm -a -t lvs.example:http -r rs2.example -m');
      assert.deepEqual(added, { status: 0, stdout: '', stderr: '' });
      assert.equal(
        d.sh('ipvsadm-save'),
        '-A -t lvs.example:http -s rr\n' +
          '-a -t lvs.example:http -r rs1.example:http -m -w 1\n' +
          '-a -t lvs.example:http -r rs2.example:http -m -w 1\n',
      );
      assert.equal(
        d.sh('ipvsadm -S -n'),
        '-A -t 10.92.0.100:80 -s rr\n' +
          '-a -t 10.92.0.100:80 -r 10.92.0.11:80 -m -w 1\n' +
          '-a -t 10.92.0.100:80 -r 10.92.0.12:80 -m -w 1\n',
      );
    } finally {
      d.run('lvsd stop');
      rmSync(etc, { recursive: true, force: true });
    }
  },
);
