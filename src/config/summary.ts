/**
 * A short human-readable dump of a resolved configuration (for `lvsd -t -d`): one line per virtual
 * server, real server and checker, then VRRP objects.
 */
import type { Checker, KeepalivedConfig, RealServer, VirtualServer } from './model.js';

const hostPort = (address: string, port: number, family: number): string =>
  family === 6 ? `[${address}]:${port}` : `${address}:${port}`;

function checkerLine(c: Checker): string {
  const timing = `delay_loop ${c.delayLoop}s timeout ${c.connectTimeout}s retry ${c.retry}/${c.delayBeforeRetry}s`;
  switch (c.kind) {
    case 'HTTP_GET':
    case 'SSL_GET':
      return `${c.kind} ${hostPort(c.connectIp, c.connectPort, c.family)} urls ${c.urls.map((u) => u.path).join(',')} ${timing}`;
    case 'MISC_CHECK':
      return `MISC_CHECK ${JSON.stringify(c.script.command)}${c.dynamic ? ' dynamic' : ''} timeout ${c.timeout}s ${timing}`;
    case 'DNS_CHECK':
      return `DNS_CHECK ${hostPort(c.connectIp, c.connectPort, c.family)} ${c.type} ${c.name} ${timing}`;
    case 'FILE_CHECK':
      return `FILE_CHECK ${c.trackFile} weight ${c.weight}${c.reverse ? ' reverse' : ''}`;
    case 'BFD_CHECK':
      return `BFD_CHECK ${c.name}`;
    case 'SMTP_CHECK':
      return `SMTP_CHECK ${hostPort(c.connectIp, c.connectPort, c.family)} helo ${c.heloName}${c.hosts.length ? ` hosts ${c.hosts.length}` : ''} ${timing}`;
    default:
      return `${c.kind} ${hostPort(c.connectIp, c.connectPort, c.family)} ${timing}`;
  }
}

function rsLine(rs: RealServer): string {
  const flags = [rs.inhibitOnFailure ? 'inhibit' : '', rs.alpha ? 'alpha' : ''].filter((f) => f).join(' ');
  return `  RS ${hostPort(rs.address, rs.port, rs.family)} ${rs.method} weight ${rs.weight}${flags ? ' ' + flags : ''}`;
}

function vsLine(vs: VirtualServer): string {
  const parts = [
    `VS ${vs.name}`,
    vs.scheduler + (vs.schedFlags.length ? `(${vs.schedFlags.join(',')})` : ''),
    vs.method,
  ];
  if (vs.persistenceTimeout) parts.push(`persistent ${vs.persistenceTimeout}`);
  if (vs.quorum !== 1 || vs.hysteresis) parts.push(`quorum ${vs.quorum}/${vs.hysteresis}`);
  if (vs.sorryServer)
    parts.push(`sorry ${hostPort(vs.sorryServer.address, vs.sorryServer.port, vs.sorryServer.family)}`);
  if (vs.alpha) parts.push('alpha');
  if (vs.omega) parts.push('omega');
  if (vs.ops) parts.push('ops');
  return parts.join(' ');
}

export function summarizeConfig(c: KeepalivedConfig): string {
  const out: string[] = [];
  out.push(`files: ${c.files.join(', ')}`);
  if (c.global.routerId !== undefined) out.push(`router_id ${c.global.routerId}`);
  for (const g of c.virtualServerGroups)
    out.push(`VSG ${g.name}: ${g.addresses.length} address(es), ${g.fwmarks.length} fwmark(s)`);
  for (const vs of c.virtualServers) {
    out.push(vsLine(vs));
    for (const rs of vs.realServers) {
      out.push(rsLine(rs));
      for (const ck of rs.checkers) out.push(`    ${checkerLine(ck)}`);
    }
  }
  for (const v of c.vrrpInstances)
    out.push(
      `VRRP ${v.name} ${v.state} vrid ${v.virtualRouterId} prio ${v.priority} v${v.version} ` +
        `${v.interface ?? '-'} vips ${v.virtualIpaddress.map((a) => `${a.address}/${a.prefix}`).join(',') || '-'}`,
    );
  for (const s of c.vrrpScripts) out.push(`vrrp_script ${s.name} every ${s.interval}s weight ${s.weight}`);
  for (const g of c.vrrpSyncGroups) out.push(`sync group ${g.name}: ${g.instances.join(' ')}`);
  if (c.global.lvsSyncDaemon)
    out.push(`lvs_sync_daemon ${c.global.lvsSyncDaemon.interface} id ${c.global.lvsSyncDaemon.syncId ?? 0}`);
  out.push(`${c.virtualServers.length} virtual server(s), ${c.vrrpInstances.length} vrrp instance(s)`);
  return out.join('\n') + '\n';
}
