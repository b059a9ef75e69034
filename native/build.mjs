// Builds build/Release/lvsd.node with node-gyp (npm's "install" script).
// node-gyp comes from npm itself (npm_config_node_gyp, set by npm for lifecycle scripts) or, when
// run by hand, from the npm next to this node binary. Headers: if this node ships them (a distro
// node has /usr/include/node, an official tarball <prefix>/include/node), pass --nodedir so
// node-gyp never downloads anything; only without local headers does it fall back to its default.
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const prefix = resolve(dirname(process.execPath), '..');

function findNodeGyp() {
  const candidates = [
    process.env.npm_config_node_gyp,
    join(prefix, 'lib/node_modules/npm/node_modules/node-gyp/bin/node-gyp.js'),
    '/usr/share/nodejs/node-gyp/bin/node-gyp.js',
    join(root, 'node_modules/node-gyp/bin/node-gyp.js'),
  ];
  for (const c of candidates) if (c && existsSync(c)) return c;
  return null;
}

function findNodeDir() {
  for (const dir of [prefix, '/usr', '/usr/local']) {
    if (existsSync(join(dir, 'include/node/node_api.h'))) return dir;
  }
  return null;
}

const gyp = findNodeGyp();
if (gyp === null) {
  console.error('lvsd: node-gyp not found (expected npm\'s bundled copy); cannot build the native addon');
  process.exit(1);
}
const args = [gyp, 'rebuild'];
const nodedir = findNodeDir();
if (nodedir !== null) args.push(`--nodedir=${nodedir}`);
const r = spawnSync(process.execPath, args, { cwd: root, stdio: 'inherit' });
process.exit(r.status ?? 1);
