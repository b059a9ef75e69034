/**
 * The addon's generic inet calls that VRRP uses (bindInet, setsockoptBytes, sendTo, recvFrom with
 * IP_PKTINFO / IP_RECVTTL / IPV6_PKTINFO / IPV6_HOPLIMIT ancillary data), over loopback UDP.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as nat from '../../src/io/native.js';
import { native, nativeAvailable } from '../../src/io/native.js';
import { addressBytes, formatBytes } from '../../src/vrrp/io.js';

const skip = nativeAvailable ? false : 'addon not built';

function pollRecv(fd: number, buf: Uint8Array, meta: Uint8Array): number {
  const until = Date.now() + 2000;
  for (;;) {
    const n = native.recvFrom(fd, buf, 0, buf.length, meta);
    if (n >= 0 || Date.now() > until) return n;
  }
}

test('IPv4: sendTo/recvFrom carry source, pktinfo destination, ifindex and TTL', { skip }, () => {
  const lo = addressBytes('127.0.0.1')!;
  // a fixed high port derived from the pid (loopback only)
  const port = 40000 + (process.pid % 20000);
  const rx2 = native.socket(nat.AF_INET, nat.SOCK_DGRAM, 0);
  const tx = native.socket(nat.AF_INET, nat.SOCK_DGRAM, 0);
  try {
    native.setsockoptInt(rx2, nat.IPPROTO_IP, nat.IP_PKTINFO, 1);
    native.setsockoptInt(rx2, nat.IPPROTO_IP, nat.IP_RECVTTL, 1);
    native.bindInet(rx2, lo, port, 0);
    native.setsockoptInt(tx, nat.IPPROTO_IP, nat.IP_TTL, 77);
    native.bindInet(tx, addressBytes('127.0.0.2')!, 0, 0);
    const msg = new TextEncoder().encode('vrrp');
    assert.equal(native.sendTo(tx, msg, 0, msg.length, lo, port, 0), 4);
    const buf = new Uint8Array(64);
    const meta = new Uint8Array(nat.RECV_META_LEN);
    const n = pollRecv(rx2, buf, meta);
    assert.equal(n, 4);
    assert.equal(new TextDecoder().decode(buf.subarray(0, 4)), 'vrrp');
    const m32 = new Int32Array(meta.buffer);
    assert.equal(formatBytes(meta.subarray(0, 4)), '127.0.0.2');
    assert.equal(formatBytes(meta.subarray(16, 20)), '127.0.0.1');
    assert.equal(m32[8], native.ifIndex('lo'));
    assert.equal(m32[9], 77);
    assert.equal(m32[10], nat.AF_INET);
    assert.equal(m32[11], 0);
    assert.equal(native.recvFrom(tx, buf, 0, 64, meta), -1, 'EAGAIN is -1');
  } finally {
    native.close(rx2);
    native.close(tx);
  }
});

test('IPv6: hop limit and pktinfo; bad arguments are typed errors', { skip }, () => {
  const lo6 = addressBytes('::1')!;
  const port = 40000 + ((process.pid + 7) % 20000);
  const rx = native.socket(nat.AF_INET6, nat.SOCK_DGRAM, 0);
  const tx = native.socket(nat.AF_INET6, nat.SOCK_DGRAM, 0);
  try {
    native.setsockoptInt(rx, nat.IPPROTO_IPV6, nat.IPV6_RECVPKTINFO, 1);
    native.setsockoptInt(rx, nat.IPPROTO_IPV6, nat.IPV6_RECVHOPLIMIT, 1);
    native.bindInet(rx, lo6, port, 0);
    native.setsockoptInt(tx, nat.IPPROTO_IPV6, nat.IPV6_UNICAST_HOPS, 255);
    const msg = new Uint8Array([1, 2, 3]);
    assert.equal(native.sendTo(tx, msg, 0, 3, lo6, port, 0), 3);
    const buf = new Uint8Array(16);
    const meta = new Uint8Array(nat.RECV_META_LEN);
    assert.equal(pollRecv(rx, buf, meta), 3);
    const m32 = new Int32Array(meta.buffer);
    assert.equal(formatBytes(meta.subarray(0, 16)), '::1');
    assert.equal(formatBytes(meta.subarray(16, 32)), '::1');
    assert.equal(m32[9], 255);
    assert.equal(m32[10], nat.AF_INET6);
    // SO_BINDTODEVICE through setsockoptBytes (a NUL-terminated name)
    native.setsockoptBytes(tx, nat.SOL_SOCKET, nat.SO_BINDTODEVICE, new TextEncoder().encode('lo\0'));
    assert.throws(() => native.bindInet(tx, new Uint8Array(5), 0, 0), { code: 'ERR_INVALID_ARG_TYPE' });
    assert.throws(() => native.sendTo(tx, msg, 0, 3, lo6, 70000, 0), { code: 'ERR_OUT_OF_RANGE' });
    assert.throws(() => native.recvFrom(rx, buf, 0, 16, new Uint8Array(8)), { code: 'ERR_INVALID_ARG_TYPE' });
    assert.throws(
      () =>
        native.setsockoptBytes(
          tx,
          nat.SOL_SOCKET,
          nat.SO_BINDTODEVICE,
          new TextEncoder().encode('nosuchif0\0'),
        ),
      { code: 'ENODEV', syscall: 'setsockopt' },
    );
  } finally {
    native.close(rx);
    native.close(tx);
  }
});
