/**
 * Runs a VrrpManager on a hand-built config, for end-to-end tests and manual use inside a network
 * namespace (the keepalived.conf parser is not wired in yet):
 *
 *   ip netns exec NS node dist/test/vrrp/run-manager.js --run CONFIG.json STATUS.json
 *
 * CONFIG.json is a KeepalivedConfig. The status (VrrpManager.status() plus unattributed drops) is
 * rewritten to STATUS.json on every change and every 200 ms. SIGTERM/SIGINT: a clean stop
 * (priority-0 adverts, VIPs removed), then exit 0. Logs go to stdout/stderr.
 */
import fs from 'node:fs';
import type { KeepalivedConfig } from '../../src/config/model.js';
import { VrrpManager } from '../../src/vrrp/manager.js';

async function main(args: string[]): Promise<void> {
  const [configPath, statusPath] = args;
  if (!configPath || !statusPath) throw new Error('usage: run-manager.js --run CONFIG.json STATUS.json');
  const config = JSON.parse(fs.readFileSync(configPath, 'utf8')) as KeepalivedConfig;
  const t0 = Date.now();
  const mgr = new VrrpManager(config, {
    log: (level, m) => process.stdout.write(`${((Date.now() - t0) / 1000).toFixed(3)} ${level} ${m}\n`),
  });
  const write = (): void => {
    const tmp = `${statusPath}.tmp`;
    fs.writeFileSync(tmp, JSON.stringify({ instances: mgr.status(), unattributed: mgr.unattributedDrops() }));
    fs.renameSync(tmp, statusPath);
  };
  mgr.onVipChange((name, vips, held) => {
    process.stdout.write(`vip-change ${name} ${held ? 'held' : 'released'} ${vips.join(' ')}\n`);
    write();
  });
  await mgr.start();
  write();
  const timer = setInterval(write, 200);
  let stopping = false;
  const stop = (): void => {
    if (stopping) return;
    stopping = true;
    clearInterval(timer);
    mgr.stop().then(
      () => {
        write();
        process.exit(0);
      },
      (e: unknown) => {
        process.stderr.write(`stop failed: ${(e as Error).message}\n`);
        process.exit(1);
      },
    );
  };
  process.on('SIGTERM', stop);
  process.on('SIGINT', stop);
  process.stdout.write('ready\n');
}

if (process.argv[2] === '--run') {
  main(process.argv.slice(3)).catch((e: unknown) => {
    process.stderr.write(`run-manager: ${(e as Error).stack}\n`);
    process.exit(1);
  });
}
