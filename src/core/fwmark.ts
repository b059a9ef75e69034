/**
 * lvsd's firewall-mark rules. With kernel IPVS, `-f MARK` services match packets that iptables or
 * nftables marked in PREROUTING. lvsd takes service packets at ingress, before PREROUTING, so the
 * host's mark rules never see them; an operator states the same classification here instead
 * (`lvsd fwmark add --mark 1 --dst 10.0.0.100 --proto tcp --dport 80-443`), and steering takes the
 * matching traffic away from the kernel only while a `-f` service for that mark exists.
 *
 * Rules are matched in the order they were added and the first match wins (an iptables MARK chain
 * with a RETURN after each rule). Stored as typed arrays; classify() allocates nothing.
 */
import { LvsError, ERRNO } from '../errors.js';
import { formatAddress, parseAddress, prefixMaskWord } from '../packet/addr.js';
import {
  AF_INET,
  AF_INET6,
  IPPROTO_SCTP,
  IPPROTO_TCP,
  IPPROTO_UDP,
  type PacketView,
} from '../packet/view.js';

/** A rule: traffic to addr/prefixLen, proto, ports [portLo, portHi] gets `mark`. */
export interface FwmarkRule {
  readonly af: number;
  /** address text, optionally with /prefix */
  readonly addr: string;
  readonly proto: number;
  readonly portLo?: number;
  readonly portHi?: number;
  readonly mark: number;
}

export const MAX_FWMARK_RULES = 1024;

function bad(msg: string): LvsError {
  return new LvsError('ERR_LVS_INVALID_ARGUMENT', msg, ERRNO.EINVAL);
}

export class FwmarkTable {
  private n = 0;
  private readonly af = new Uint8Array(MAX_FWMARK_RULES);
  private readonly net = new Uint32Array(MAX_FWMARK_RULES * 4);
  private readonly mask = new Uint32Array(MAX_FWMARK_RULES * 4);
  private readonly prefix = new Uint8Array(MAX_FWMARK_RULES);
  private readonly proto = new Uint8Array(MAX_FWMARK_RULES);
  private readonly portLo = new Uint16Array(MAX_FWMARK_RULES);
  private readonly portHi = new Uint16Array(MAX_FWMARK_RULES);
  private readonly mark = new Uint32Array(MAX_FWMARK_RULES);

  get size(): number {
    return this.n;
  }

  /** Mark for v (0 = no rule matches). */
  classify(v: PacketView): number {
    const n = this.n;
    if (n === 0) return 0;
    const d = v.daddr;
    const port = v.dport;
    const proto = v.proto;
    const af = v.af;
    for (let i = 0; i < n; i++) {
      if (this.af[i] !== af || this.proto[i] !== proto) continue;
      if (port < this.portLo[i]! || port > this.portHi[i]!) continue;
      const b = i * 4;
      if (
        (d[0]! & this.mask[b]!) >>> 0 === this.net[b] &&
        (d[1]! & this.mask[b + 1]!) >>> 0 === this.net[b + 1] &&
        (d[2]! & this.mask[b + 2]!) >>> 0 === this.net[b + 2] &&
        (d[3]! & this.mask[b + 3]!) >>> 0 === this.net[b + 3]
      )
        return this.mark[i]!;
    }
    return 0;
  }

  /** Validate and canonicalise a rule (network address with host bits cleared, explicit port range). */
  static normalise(r: FwmarkRule): Required<FwmarkRule> & { prefixLen: number; words: Uint32Array } {
    if (r.af !== AF_INET && r.af !== AF_INET6) throw bad('fwmark: family must be IPv4 or IPv6');
    if (r.proto !== IPPROTO_TCP && r.proto !== IPPROTO_UDP && r.proto !== IPPROTO_SCTP)
      throw bad('fwmark: protocol must be tcp, udp or sctp');
    if (!Number.isInteger(r.mark) || r.mark < 1 || r.mark > 0xffffffff)
      throw bad('fwmark: mark must be an integer from 1 to 4294967295');
    const [a, pl] = r.addr.split('/');
    const max = r.af === AF_INET ? 32 : 128;
    const prefixLen = pl === undefined ? max : /^\d+$/.test(pl) ? Number(pl) : -1;
    if (prefixLen < 0 || prefixLen > max) throw bad(`fwmark: bad prefix length in '${r.addr}'`);
    const p = parseAddress(a ?? '');
    if (!p || p.af !== r.af) throw bad(`fwmark: bad IPv${r.af === AF_INET ? 4 : 6} address '${r.addr}'`);
    const words = new Uint32Array(4);
    for (let w = 0; w < 4; w++) words[w] = (p.words[w]! & prefixMaskWord(prefixLen, w)) >>> 0;
    const portLo = r.portLo ?? 0;
    const portHi = r.portHi ?? (r.portLo === undefined ? 65535 : portLo);
    if (
      !Number.isInteger(portLo) ||
      !Number.isInteger(portHi) ||
      portLo < 0 ||
      portHi > 65535 ||
      portLo > portHi
    )
      throw bad('fwmark: bad port range');
    const addr = `${formatAddress(r.af, words)}/${prefixLen}`;
    return { af: r.af, addr, proto: r.proto, portLo, portHi, mark: r.mark, prefixLen, words };
  }

  private indexOf(r: ReturnType<typeof FwmarkTable.normalise>): number {
    for (let i = 0; i < this.n; i++) {
      const b = i * 4;
      if (
        this.af[i] === r.af &&
        this.prefix[i] === r.prefixLen &&
        this.proto[i] === r.proto &&
        this.portLo[i] === r.portLo &&
        this.portHi[i] === r.portHi &&
        this.mark[i] === r.mark &&
        this.net[b] === r.words[0] &&
        this.net[b + 1] === r.words[1] &&
        this.net[b + 2] === r.words[2] &&
        this.net[b + 3] === r.words[3]
      )
        return i;
    }
    return -1;
  }

  add(rule: FwmarkRule): void {
    const r = FwmarkTable.normalise(rule);
    if (this.indexOf(r) >= 0)
      throw new LvsError('ERR_LVS_INVALID_ARGUMENT', 'fwmark: rule already exists', ERRNO.EEXIST);
    if (this.n >= MAX_FWMARK_RULES)
      throw new LvsError('ERR_LVS_TABLE_FULL', 'fwmark: too many rules', ERRNO.ENOMEM);
    const i = this.n++;
    this.af[i] = r.af;
    this.prefix[i] = r.prefixLen;
    this.proto[i] = r.proto;
    this.portLo[i] = r.portLo;
    this.portHi[i] = r.portHi;
    this.mark[i] = r.mark;
    for (let w = 0; w < 4; w++) {
      this.mask[i * 4 + w] = prefixMaskWord(r.prefixLen, w);
      this.net[i * 4 + w] = r.words[w]!;
    }
  }

  delete(rule: FwmarkRule): void {
    const r = FwmarkTable.normalise(rule);
    const at = this.indexOf(r);
    if (at < 0) throw new LvsError('ERR_LVS_INVALID_ARGUMENT', 'fwmark: no such rule', ERRNO.ENOENT);
    for (let i = at; i < this.n - 1; i++) {
      this.af[i] = this.af[i + 1]!;
      this.prefix[i] = this.prefix[i + 1]!;
      this.proto[i] = this.proto[i + 1]!;
      this.portLo[i] = this.portLo[i + 1]!;
      this.portHi[i] = this.portHi[i + 1]!;
      this.mark[i] = this.mark[i + 1]!;
      this.net.copyWithin(i * 4, (i + 1) * 4, (i + 2) * 4);
      this.mask.copyWithin(i * 4, (i + 1) * 4, (i + 2) * 4);
    }
    this.n--;
  }

  flush(): void {
    this.n = 0;
  }

  list(): FwmarkRule[] {
    const out: FwmarkRule[] = [];
    for (let i = 0; i < this.n; i++) {
      const af = this.af[i]!;
      out.push({
        af,
        addr: `${formatAddress(af, this.net.subarray(i * 4, i * 4 + 4))}/${this.prefix[i]}`,
        proto: this.proto[i]!,
        portLo: this.portLo[i]!,
        portHi: this.portHi[i]!,
        mark: this.mark[i]!,
      });
    }
    return out;
  }
}
