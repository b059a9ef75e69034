/**
 * Running keepalived scripts (MISC_CHECK misc_path, notify_up/down, quorum_up/down): argv without a
 * shell, optionally as `user [group]` (the script's own, else global_defs script_user). Names are
 * looked up in /etc/passwd and /etc/group (numeric ids are taken as they are); group defaults to the
 * user's primary group.
 */
import { readFileSync } from 'node:fs';
import type { ScriptSpec } from '../config/model.js';

export interface ScriptIds {
  uid: number;
  gid: number;
}

function lookup(file: string, name: string): string[] | null {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch {
    return null;
  }
  for (const line of text.split('\n')) {
    const f = line.split(':');
    if (f[0] === name) return f;
  }
  return null;
}

/** uid/gid for `user [group]`; throws Error with a readable message when unknown. */
export function resolveScriptIds(
  user: string,
  group?: string,
  passwd = '/etc/passwd',
  groupFile = '/etc/group',
): ScriptIds {
  let uid: number;
  let gid: number;
  if (/^\d+$/.test(user)) {
    uid = Number(user);
    gid = uid;
  } else {
    const pw = lookup(passwd, user);
    if (!pw) throw new Error(`unknown user ${user}`);
    uid = Number(pw[2]);
    gid = Number(pw[3]);
  }
  if (group !== undefined) {
    if (/^\d+$/.test(group)) gid = Number(group);
    else {
      const gr = lookup(groupFile, group);
      if (!gr) throw new Error(`unknown group ${group}`);
      gid = Number(gr[2]);
    }
  }
  return { uid, gid };
}

/** spawn() uid/gid options for a script, or {} to run as this process's user. */
export function scriptSpawnIds(
  script: ScriptSpec,
  fallback?: { user: string; group?: string },
): Partial<ScriptIds> {
  const user = script.user ?? fallback?.user;
  if (user === undefined) return {};
  const group = script.user !== undefined ? script.group : fallback?.group;
  const ids = resolveScriptIds(user, group);
  if (typeof process.getuid === 'function' && process.getuid() === ids.uid && process.getgid?.() === ids.gid)
    return {};
  return ids;
}
