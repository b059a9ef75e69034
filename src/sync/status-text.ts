/**
 * The sync part of `lvsd status` as text: one block per running role with its counters, drops by
 * reason and the lag figures (SyncManager.status()).
 */
function flat(v: unknown): string {
  if (v === null || v === undefined) return '-';
  if (typeof v !== 'object') return String(v);
  return Object.entries(v as Record<string, unknown>)
    .map(([k, x]) => `${k}=${typeof x === 'object' && x !== null ? JSON.stringify(x) : String(x)}`)
    .join(' ');
}

export function formatSyncStatus(sync: Record<string, unknown> | undefined): string[] {
  const lines: string[] = [];
  if (!sync || Object.keys(sync).length === 0) return ['sync:        off'];
  for (const role of ['master', 'backup']) {
    const r = sync[role] as Record<string, unknown> | undefined;
    if (!r) continue;
    lines.push(
      `sync ${role}: mcast=${String(r['mcastIfn'])} syncid=${String(r['syncid'])} group=${String(r['group'])}:${String(r['port'])} maxlen=${String(r['maxlen'])}`,
    );
    for (const [k, v] of Object.entries(r)) {
      if (['state', 'mcastIfn', 'syncid', 'group', 'port', 'maxlen', 'ttl'].includes(k) || v === undefined)
        continue;
      lines.push(`  ${k.padEnd(18)} ${flat(v)}`);
    }
  }
  return lines;
}
