/**
 * Real servers for end-to-end tests: nginx instances inside test namespaces, each with its own
 * prefix, pid file and temp paths under the lab's scratch directory.
 */
import fs from 'node:fs';
import path from 'node:path';
import type { Lab, Netns } from './netns.js';

let seq = 0;

export interface NginxOptions {
  /** listen directives, e.g. ['10.0.0.2:80', '[fd00::2]:80'] */
  listen: string[];
  /** body of GET / (a newline is appended) */
  body: string;
  /** extra files served under /files/ */
  files?: Record<string, Uint8Array | string>;
  /** the same files under /slow/, sent at this nginx limit_rate (e.g. '32k'): a transfer whose length does not depend on the client */
  slowRate?: string;
}

/** Start nginx in ns; returns its prefix dir. Stopped by Lab.cleanup (it kills the namespace's processes). */
export function startNginx(lab: Lab, ns: Netns, o: NginxOptions): string {
  const dir = lab.file(`nginx${seq++}`);
  fs.mkdirSync(path.join(dir, 'files'), { recursive: true });
  for (const [name, data] of Object.entries(o.files ?? {}))
    fs.writeFileSync(path.join(dir, 'files', name), data);
  const conf = `worker_processes 1;
user root;
daemon on;
pid ${dir}/nginx.pid;
error_log ${dir}/error.log warn;
events { worker_connections 4096; }
http {
  access_log off;
  client_body_temp_path ${dir}/body;
  proxy_temp_path ${dir}/proxy;
  fastcgi_temp_path ${dir}/fastcgi;
  uwsgi_temp_path ${dir}/uwsgi;
  scgi_temp_path ${dir}/scgi;
  keepalive_requests 100000;
  server {
${o.listen.map((l) => `    listen ${l} reuseport;`).join('\n')}
    location = / { default_type text/plain; return 200 "${o.body}\\n"; }
    location /files/ { alias ${dir}/files/; }
${o.slowRate ? `    location /slow/ { alias ${dir}/files/; limit_rate ${o.slowRate}; }\n` : ''}  }
}
`;
  fs.writeFileSync(path.join(dir, 'nginx.conf'), conf);
  ns.sh(`nginx -p ${dir} -c ${dir}/nginx.conf`);
  return dir;
}
