/**
 * LvsError: the one error type of the control plane and library code. Tests and callers match on
 * `code` (stable ERR_LVS_* strings), never on message text. `errno` carries the errno ipvsadm would
 * have got from the kernel, so the CLI can print ipvsadm's own message for it (ipvs-reference §1.10).
 * The data plane never throws: it counts drops (src/packet/drop-reasons.ts).
 */
export type LvsErrorCode =
  | 'ERR_LVS_INVALID_ARGUMENT'
  | 'ERR_LVS_SERVICE_EXISTS'
  | 'ERR_LVS_NO_SERVICE'
  | 'ERR_LVS_SERVICE_NOT_DEFINED'
  | 'ERR_LVS_DEST_EXISTS'
  | 'ERR_LVS_NO_DEST'
  | 'ERR_LVS_SCHED_NOT_FOUND'
  | 'ERR_LVS_SCHED_FAILED'
  | 'ERR_LVS_TABLE_FULL'
  | 'ERR_LVS_RANGE'
  | 'ERR_LVS_FAMILY_MISMATCH'
  | 'ERR_LVS_BAD_RECORD'
  | 'ERR_LVS_NO_MEMORY'
  | 'ERR_LVS_STEERING';

export const ERRNO = {
  EPERM: 1,
  ENOENT: 2,
  ESRCH: 3,
  ENOMEM: 12,
  EEXIST: 17,
  EINVAL: 22,
  ERANGE: 34,
  EAFNOSUPPORT: 97,
} as const;

export class LvsError extends Error {
  readonly code: LvsErrorCode;
  readonly errno: number;
  constructor(code: LvsErrorCode, message: string, errno: number = ERRNO.EINVAL) {
    super(message);
    this.name = 'LvsError';
    this.code = code;
    this.errno = errno;
  }
}
