/**
 * `lvsd demo` end to end (root): it builds its namespaces, balances 30 curl requests per mode through
 * NAT, DR and TUN over all three real servers, prints the ipvsadm commands and `--stats`, and leaves
 * no namespace behind, neither after a full run nor after SIGINT in the middle. Without root it
 * refuses with a pointer to `lvsd simulate`.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { BIN, e2eUnavailable, which } from '../helpers/netns.js';

const LVSD = path.join(BIN, 'lvsd');
const skip = e2eUnavailable('curl', 'nft');

interface DemoRun {
  pid: number;
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
}

/** Run `lvsd demo`; `onOutput` may return a signal to send once the output so far matches. */
function runDemo(args: string[], onOutput?: (soFar: string) => NodeJS.Signals | null): Promise<DemoRun> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [LVSD, 'demo', ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    let signalled = false;
    const timer = setTimeout(() => child.kill('SIGTERM'), 150000);
    child.stdout.setEncoding('utf8').on('data', (d: string) => {
      stdout += d;
      const sig = signalled ? null : (onOutput?.(stdout) ?? null);
      if (sig) {
        signalled = true;
        child.kill(sig);
      }
    });
    child.stderr.setEncoding('utf8').on('data', (d: string) => (stderr += d));
    child.on('error', reject);
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      resolve({ pid: child.pid!, code, signal, stdout, stderr });
    });
  });
}

/** Processes whose command line names the demo's prefix (its nginx masters run from its scratch dir). */
function processesOf(pid: number): string[] {
  const found: string[] = [];
  for (const p of fs.readdirSync('/proc').filter((d) => /^\d+$/.test(d))) {
    try {
      const cmd = fs.readFileSync(`/proc/${p}/cmdline`, 'utf8').replace(/\0/g, ' ');
      if (cmd.includes(`lvsdemo-${pid}-`)) found.push(`${p}: ${cmd}`);
    } catch {
      /* exited meanwhile */
    }
  }
  return found;
}

function namespacesOf(pid: number): string[] {
  const r = spawnSync('ip', ['netns', 'list'], { encoding: 'utf8' });
  return (r.stdout ?? '')
    .split('\n')
    .map((l) => l.split(' ')[0]!)
    .filter((n) => n.startsWith(`lvsdemo-${pid}-`));
}

test(
  'lvsd demo: NAT, DR and TUN each split 30 requests over all three servers, then cleans up',
  {
    skip: skip ?? false,
    timeout: 180000,
  },
  async () => {
    const r = await runDemo([]);
    const diag = `exit ${r.code} ${r.signal}\nstdout:\n${r.stdout}\nstderr:\n${r.stderr}`;
    assert.equal(r.code, 0, diag);
    assert.ok(r.stdout.includes(`lvsdemo-${r.pid}-`), diag);
    for (const [mode, flag, column] of [
      ['NAT', '-m', 'Masq'],
      ['DR', '-g', 'Route'],
      ['TUN', '-i', 'Tunnel'],
    ] as const) {
      const m = new RegExp(`^${mode} split: rs1=(\\d+) rs2=(\\d+) rs3=(\\d+) failed=(\\d+)$`, 'm').exec(
        r.stdout,
      );
      assert.ok(m, `no split line for ${mode}\n${diag}`);
      const [rs1, rs2, rs3, failed] = m.slice(1).map(Number) as [number, number, number, number];
      assert.equal(failed, 0, `${mode}\n${diag}`);
      assert.equal(rs1 + rs2 + rs3, 30, `${mode}\n${diag}`);
      // rr over three equal servers: 10 each
      assert.deepEqual([rs1, rs2, rs3], [10, 10, 10], `${mode}\n${diag}`);
      // the section shows the verbatim ipvsadm commands and the table in the mode's forwarding method
      const section = r.stdout.slice(r.stdout.indexOf(`. ${mode}: `), m.index);
      assert.match(section, /\[director\] \$ ipvsadm -A -t 10\.0\.0\.100:80 -s rr\n/, `${mode}\n${diag}`);
      for (const rs of ['172.16.0.11', '172.16.0.12', '172.16.0.13']) {
        assert.ok(
          section.includes(`$ ipvsadm -a -t 10.0.0.100:80 -r ${rs}:80 ${flag}\n`),
          `${mode} ${rs}\n${diag}`,
        );
        assert.match(
          section,
          new RegExp(`  -> ${rs.replace(/\./g, '\\.')}:80 +${column} +1 `),
          `${mode}\n${diag}`,
        );
      }
      // --stats after the traffic: the service counted the 30 connections (counters zeroed before)
      const after = r.stdout.slice(m.index);
      const stats = /\$ ipvsadm -L -n --stats\n[^]*?\nTCP {2}10\.0\.0\.100:80 +(\d+) +(\d+) +(\d+)/.exec(
        after,
      );
      assert.ok(stats, `${mode}: no --stats output\n${diag}`);
      assert.equal(Number(stats[1]), 30, `${mode}\n${diag}`);
      // NAT replies pass the director; DR and TUN replies go straight to the client
      if (mode === 'NAT') assert.ok(Number(stats[3]) > 0, `${mode}\n${diag}`);
      else assert.equal(Number(stats[3]), 0, `${mode}\n${diag}`);
      assert.match(after, /\$ ipvsadm -C\n/, `${mode}\n${diag}`);
    }
    assert.deepEqual(namespacesOf(r.pid), [], diag);
    assert.deepEqual(processesOf(r.pid), [], diag);
    const scratch = fs.readdirSync(os.tmpdir()).filter((f) => f.startsWith(`lvsdemo-${r.pid}-`));
    assert.deepEqual(scratch, [], diag);
  },
);

test(
  'lvsd demo: SIGINT in the middle removes everything it made',
  {
    skip: skip ?? false,
    timeout: 120000,
  },
  async () => {
    // interrupt while the client of the first mode is making requests
    const r = await runDemo(['--requests', '200'], (s) => (s.includes('[client]') ? 'SIGINT' : null));
    const diag = `exit ${r.code} ${r.signal}\nstdout:\n${r.stdout}\nstderr:\n${r.stderr}`;
    assert.equal(r.code, 130, diag);
    assert.match(r.stdout, /SIGINT: stopping; removing what the demo made/, diag);
    assert.match(r.stdout, /Removed the namespaces lvsdemo-\d+-\* and everything in them/, diag);
    assert.doesNotMatch(r.stdout, /Summary:/, diag);
    assert.deepEqual(namespacesOf(r.pid), [], diag);
    assert.deepEqual(processesOf(r.pid), [], diag);
    const scratch = fs.readdirSync(os.tmpdir()).filter((f) => f.startsWith(`lvsdemo-${r.pid}-`));
    assert.deepEqual(scratch, [], diag);
  },
);

test(
  'lvsd demo without root says so and offers lvsd simulate',
  {
    skip: process.getuid?.() === 0 && !which('setpriv') ? 'setpriv is needed to drop root' : false,
  },
  () => {
    const argv = [process.execPath, LVSD, 'demo'];
    const r =
      process.getuid?.() === 0
        ? spawnSync('setpriv', ['--reuid=65534', '--regid=65534', '--clear-groups', ...argv], {
            encoding: 'utf8',
          })
        : spawnSync(argv[0]!, argv.slice(1), { encoding: 'utf8' });
    assert.equal(r.status, 1, `${r.stdout}${r.stderr}`);
    assert.match(r.stderr, /lvsd demo needs root/);
    assert.match(r.stderr, /lvsd simulate/);
    assert.equal(r.stdout, '');
  },
);
