/**
 * Structured logs: one JSON object per line ({"time","level","msg",...fields}) on stderr, which is a
 * terminal or journald in the foreground and the per-namespace log file when `ipvsadm` started the
 * daemon detached. Levels are checked before anything is formatted.
 */
export type LogLevel = 'debug' | 'info' | 'warn' | 'error';
const RANK: Record<LogLevel, number> = { debug: 10, info: 20, warn: 30, error: 40 };

export class Logger {
  private readonly min: number;
  constructor(
    level: LogLevel = 'info',
    private readonly out: (line: string) => void = (l) => process.stderr.write(l),
    private readonly base: Record<string, unknown> = {},
  ) {
    this.min = RANK[level];
  }

  enabled(level: LogLevel): boolean {
    return RANK[level] >= this.min;
  }

  log(level: LogLevel, msg: string, fields?: Record<string, unknown>): void {
    if (RANK[level] < this.min) return;
    const rec: Record<string, unknown> = {
      time: new Date().toISOString(),
      level,
      msg,
      ...this.base,
      ...fields,
    };
    let line: string;
    try {
      line = JSON.stringify(rec, (_k, v: unknown) => (typeof v === 'bigint' ? v.toString() : v));
    } catch {
      line = JSON.stringify({ time: rec['time'], level, msg });
    }
    this.out(line + '\n');
  }

  debug(msg: string, f?: Record<string, unknown>): void {
    this.log('debug', msg, f);
  }
  info(msg: string, f?: Record<string, unknown>): void {
    this.log('info', msg, f);
  }
  warn(msg: string, f?: Record<string, unknown>): void {
    this.log('warn', msg, f);
  }
  error(msg: string, f?: Record<string, unknown>): void {
    this.log('error', msg, f);
  }
}
