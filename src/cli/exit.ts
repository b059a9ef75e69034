/**
 * Exit once stdout and stderr are flushed. process.exit() right after a large write to a pipe loses
 * what the pipe did not take yet: Node writes to a full pipe asynchronously (libuv queues the rest),
 * so `lvsd status --json | jq` or `ipvsadm -S -n | ...` of a big table was cut at 64 KiB. A write of
 * '' completes after everything queued before it (stream writes complete in order).
 */
export function exitAfterFlush(code: number): void {
  process.exitCode = code;
  let pending = 2;
  for (const s of [process.stdout, process.stderr]) {
    let called = false;
    const done = (): void => {
      if (called) return;
      called = true;
      if (--pending === 0) process.exit(code);
    };
    if (s.destroyed || !s.writable) {
      done();
      continue;
    }
    s.once('error', done); // EPIPE: the reader went away; nothing more to flush
    s.write('', done);
  }
}
