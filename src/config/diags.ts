/**
 * Diagnostics collection for one load. Every message keepalived would report through
 * report_config_error makes its config test exit 5 (reference §5); fatal problems exit 4; the
 * script-security violation exits 6.
 */
import type { Diagnostic, SourceLocation } from './model.js';

export class Diags {
  readonly list: Diagnostic[] = [];
  fatal = false;
  securityViolation = false;

  error(message: string, loc?: SourceLocation): void {
    this.list.push(loc ? { severity: 'error', message, loc: { ...loc } } : { severity: 'error', message });
  }

  warn(message: string, loc?: SourceLocation): void {
    this.list.push(
      loc ? { severity: 'warning', message, loc: { ...loc } } : { severity: 'warning', message },
    );
  }
}
