/**
 * Hand-built keepalived.conf models for VRRP tests (the parser is written elsewhere): every field
 * of VrrpInstance / GlobalDefs with keepalived's defaults (keepalived-reference §1.2, §3.1).
 */
import { defaultGlobalDefs } from '../../src/config/keywords-global.js';
import type {
  GlobalDefs,
  KeepalivedConfig,
  VrrpAddress,
  VrrpInstance,
  VrrpScript,
} from '../../src/config/model.js';

const LOC = { file: 'test.conf', line: 1, column: 1 };

export function globalDefs(over: Partial<GlobalDefs> = {}): GlobalDefs {
  return { ...defaultGlobalDefs(), ...over };
}

/** `ADDR/PREFIX` -> a VrrpAddress */
export function vip(text: string, extra: Partial<VrrpAddress> = {}): VrrpAddress {
  const [address, prefix] = text.split('/');
  const family = address!.includes(':') ? 6 : 4;
  return {
    address: address!,
    prefix: prefix ? Number(prefix) : family === 4 ? 32 : 128,
    family,
    loc: LOC,
    ...extra,
  };
}

export function instance(over: Partial<VrrpInstance> & { name: string }): VrrpInstance {
  return {
    loc: LOC,
    state: 'BACKUP',
    interface: 'eth0',
    virtualRouterId: 51,
    priority: 100,
    advertInt: 1,
    version: 2,
    family: 4,
    virtualIpaddress: [],
    virtualIpaddressExcluded: [],
    nopreempt: false,
    preemptDelay: 0,
    trackInterface: [],
    trackScript: [],
    unicastPeers: [],
    garpMasterDelay: 5,
    garpMasterRepeat: 5,
    garpMasterRefresh: 0,
    garpMasterRefreshRepeat: 1,
    useVmac: false,
    other: {},
    ...over,
  };
}

export function script(over: Partial<VrrpScript> & { name: string; argv: string[] }): VrrpScript {
  const { argv, ...rest } = over;
  return {
    loc: LOC,
    script: { command: argv.join(' '), argv },
    interval: 1,
    timeout: 1,
    weight: 0,
    weightReverse: false,
    rise: 1,
    fall: 1,
    ...rest,
  };
}

export function config(
  instances: VrrpInstance[],
  extra: {
    global?: Partial<GlobalDefs>;
    scripts?: VrrpScript[];
    groups?: KeepalivedConfig['vrrpSyncGroups'];
  } = {},
): KeepalivedConfig {
  return {
    files: ['test.conf'],
    global: globalDefs(extra.global),
    virtualServerGroups: [],
    virtualServers: [],
    vrrpInstances: instances,
    vrrpScripts: extra.scripts ?? [],
    vrrpSyncGroups: extra.groups ?? [],
  };
}
