/**
 * A small classic-BPF interpreter for tests: runs a struct sock_filter[] program (8 bytes each,
 * little-endian host order: u16 code, u8 jt, u8 jf, u32 k) over a frame and returns what the kernel
 * would (bytes to keep; 0 = reject). Semantics as linux/filter.h and Documentation/networking/
 * filter.rst describe: big-endian packet loads, an out-of-range load returns 0, jumps are relative
 * to the next instruction, and a program that runs off its end is invalid. Only the instructions
 * a socket filter can hold are implemented (no ancillary loads); anything else throws.
 */
export interface CbpfResult {
  ret: number;
  /** instructions executed */
  steps: number;
}

export function decodeProgram(prog: Uint8Array): { code: number; jt: number; jf: number; k: number }[] {
  if (prog.length % 8 !== 0) throw new Error('program length is not a multiple of 8');
  const dv = new DataView(prog.buffer, prog.byteOffset, prog.byteLength);
  const out = [];
  for (let o = 0; o < prog.length; o += 8)
    out.push({
      code: dv.getUint16(o, true),
      jt: dv.getUint8(o + 2),
      jf: dv.getUint8(o + 3),
      k: dv.getUint32(o + 4, true),
    });
  return out;
}

/** Static checks the kernel's sk_chk_filter makes that matter here: jumps in range, ends in ret. */
export function checkProgram(prog: Uint8Array, maxInsns = 4096): void {
  const ins = decodeProgram(prog);
  if (ins.length === 0 || ins.length > maxInsns) throw new Error(`bad length ${ins.length}`);
  ins.forEach((x, i) => {
    const cls = x.code & 7;
    if (cls === 5) {
      const targets = (x.code & 0xf0) === 0 ? [x.k] : [x.jt, x.jf];
      for (const t of targets) if (i + 1 + t >= ins.length) throw new Error(`jump out of range at ${i}`);
    }
  });
  if ((ins[ins.length - 1]!.code & 7) !== 6) throw new Error('last instruction is not a return');
}

export function runCbpf(prog: Uint8Array, pkt: Uint8Array): CbpfResult {
  const ins = decodeProgram(prog);
  let A = 0;
  let X = 0;
  const M = new Uint32Array(16);
  let pc = 0;
  let steps = 0;
  const len = pkt.length;
  const load = (off: number, size: number): number | null => {
    if (off < 0 || off + size > len) return null;
    let v = 0;
    for (let i = 0; i < size; i++) v = v * 256 + pkt[off + i]!;
    return v >>> 0;
  };
  for (;;) {
    if (pc >= ins.length) throw new Error('ran off the end of the program');
    const { code, jt, jf, k } = ins[pc]!;
    steps++;
    pc++;
    const cls = code & 7;
    switch (cls) {
      case 0x00: // LD
      case 0x01: {
        // LDX
        const size = code & 0x18;
        const mode = code & 0xe0;
        const nbytes = size === 0x00 ? 4 : size === 0x08 ? 2 : 1;
        let v: number | null;
        if (mode === 0x00) v = k;
        else if (mode === 0x20) v = load(k, nbytes);
        else if (mode === 0x40) v = load((X + k) >>> 0, nbytes);
        else if (mode === 0x60) v = M[k & 15]!;
        else if (mode === 0x80) v = len;
        else if (mode === 0xa0 && cls === 0x01) {
          const b = load(k, 1);
          v = b === null ? null : (b & 0xf) * 4;
        } else throw new Error(`unsupported load 0x${code.toString(16)}`);
        if (v === null) return { ret: 0, steps };
        if (cls === 0x00) A = v;
        else X = v;
        break;
      }
      case 0x02:
        M[k & 15] = A;
        break;
      case 0x03:
        M[k & 15] = X;
        break;
      case 0x04: {
        const src = code & 0x08 ? X : k;
        switch (code & 0xf0) {
          case 0x00:
            A = (A + src) >>> 0;
            break;
          case 0x10:
            A = (A - src) >>> 0;
            break;
          case 0x20:
            A = Math.imul(A, src) >>> 0;
            break;
          case 0x30:
            if (src === 0) return { ret: 0, steps };
            A = Math.floor(A / src) >>> 0;
            break;
          case 0x40:
            A = (A | src) >>> 0;
            break;
          case 0x50:
            A = (A & src) >>> 0;
            break;
          case 0x60:
            A = (A << src) >>> 0;
            break;
          case 0x70:
            A = A >>> src;
            break;
          case 0x80:
            A = -A >>> 0;
            break;
          default:
            throw new Error(`unsupported alu 0x${code.toString(16)}`);
        }
        break;
      }
      case 0x05: {
        const src = code & 0x08 ? X : k;
        const op = code & 0xf0;
        if (op === 0x00) {
          pc += k;
          break;
        }
        let c: boolean;
        if (op === 0x10) c = A === src >>> 0;
        else if (op === 0x20) c = A > src >>> 0;
        else if (op === 0x30) c = A >= src >>> 0;
        else if (op === 0x40) c = (A & src) !== 0;
        else throw new Error(`unsupported jump 0x${code.toString(16)}`);
        pc += c ? jt : jf;
        break;
      }
      case 0x06:
        return { ret: (code & 0x18) === 0x10 ? A : k, steps };
      case 0x07:
        if ((code & 0xf8) === 0x00) X = A;
        else A = X;
        break;
    }
  }
}
