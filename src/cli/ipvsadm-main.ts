/**
 * `ipvsadm` entry: the drop-in CLI. Argument parsing and output formatting land with the daemon
 * (issue 3); for now it prints ipvsadm 1.31's usage and version and says plainly that it cannot yet
 * reach a director.
 */
export const IPVSADM_VERSION = 'ipvsadm v1.31 2019/12/24 (compiled with popt and IPVS v1.2.1)';

export const IPVSADM_USAGE = `${IPVSADM_VERSION}
Usage:
  ipvsadm -A|E virtual-service [-s scheduler] [-p [timeout]] [-M netmask] [--pe persistence_engine] [-b sched-flags]
  ipvsadm -D virtual-service
  ipvsadm -C
  ipvsadm -R
  ipvsadm -S [-n]
  ipvsadm -a|e virtual-service -r server-address [options]
  ipvsadm -d virtual-service -r server-address
  ipvsadm -L|l [virtual-service] [options]
  ipvsadm -Z [virtual-service]
  ipvsadm --set tcp tcpfin udp
  ipvsadm --start-daemon {master|backup} [daemon-options]
  ipvsadm --stop-daemon {master|backup}
  ipvsadm -h
`;

export async function main(argv: string[]): Promise<number> {
  const first = argv[0];
  if (first === '-h' || first === '--help') {
    process.stdout.write(IPVSADM_USAGE);
    return 0;
  }
  if (first === '-v' || first === '--version') {
    process.stdout.write(`${IPVSADM_VERSION}\n`);
    return 0;
  }
  process.stderr.write(
    'ipvsadm: the lvsd daemon is not available in this build yet (packet I/O is not implemented);\n' +
      "Try `ipvsadm -h' or 'ipvsadm --help' for more information.\n",
  );
  return 2;
}
