/**
 * `lvsd` entry. The daemon and its subcommands arrive with the I/O layer (issue 3); until then the
 * binary documents itself and refuses unknown commands with a clear message and exit status 2.
 */
export const LVSD_USAGE = `Usage: lvsd [command] [options]

lvsd is the Linux Virtual Server (LVS/IPVS) re-built in userspace.

Commands:
  simulate      run the engine on an in-memory wire and print what it does (no root needed)
  version       print the version
  help          show this text

Not built yet (need packet I/O): the daemon itself, realserver, status, doctor, trace, reload, stop.
Operate services with the drop-in \`ipvsadm\` once the daemon exists.
`;

export async function main(argv: string[]): Promise<number> {
  const cmd = argv[0] ?? 'help';
  switch (cmd) {
    case 'help':
    case '-h':
    case '--help':
      process.stdout.write(LVSD_USAGE);
      return 0;
    case 'version':
    case '-v':
    case '--version':
      process.stdout.write('lvsd 0.1.0 (IPVS 1.2.1 compatible)\n');
      return 0;
    case 'simulate': {
      const { runSimulation } = await import('./simulate.js');
      return runSimulation(argv.slice(1));
    }
    case 'realserver': {
      const { realserverMain } = await import('./realserver.js');
      return realserverMain(argv.slice(1));
    }
    case 'doctor': {
      const { doctorMain } = await import('./doctor.js');
      return doctorMain(argv.slice(1));
    }
    default:
      process.stderr.write(`lvsd: unknown command '${cmd}'\nTry 'lvsd --help' for more information.\n`);
      return 2;
  }
}
