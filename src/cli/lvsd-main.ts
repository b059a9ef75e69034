/**
 * `lvsd` entry: with no command (or only options) it runs the director daemon of this network
 * namespace in the foreground; otherwise it runs one of the subcommands below.
 */
export const LVSD_USAGE = `Usage: lvsd [options]          run the director daemon (foreground; see 'lvsd --help-daemon')
       lvsd -f keepalived.conf [-n] [keepalived options]   run keepalived.conf's virtual servers
       lvsd <command> [options]

lvsd is the Linux Virtual Server (LVS/IPVS) re-built in userspace. Drive it with ipvsadm.

Commands:
  status [--json]   interfaces, driver, steering and drop counters of this namespace's daemon
  stop              stop the daemon cleanly (removes its nftables steering; the saved table stays)
  reload            re-read the keepalived configuration (as SIGHUP; non-zero if it does not load)
  start             start the daemon when none runs (it restores the saved table)
  restart           hand table and live connections to a new lvsd process (restart or upgrade)
  realserver up|down|status   prepare a real server: VIP on lo, ARP sysctls, TUN decapsulation
  fwmark add|del|list|flush   firewall-mark rules for 'ipvsadm -f' services
  doctor            check a director or real server for the classic LVS mistakes
  demo              NAT, DR and TUN with real HTTP traffic in network namespaces (root; 'demo --help')
  simulate          run the engine on an in-memory wire and print what it does (no root needed)
  version           print the version
  help              show this text
`;

export async function main(argv: string[]): Promise<number> {
  const cmd = argv[0];
  if (cmd === undefined || (cmd.startsWith('-') && !['-h', '--help', '-v', '--version'].includes(cmd))) {
    const { runDaemon } = await import('../daemon/main.js');
    return runDaemon(cmd === '--help-daemon' ? ['--help'] : argv);
  }
  switch (cmd) {
    case 'status': {
      const { statusMain } = await import('./status.js');
      return statusMain(argv.slice(1));
    }
    case 'fwmark': {
      const { fwmarkMain } = await import('./fwmark.js');
      return fwmarkMain(argv.slice(1));
    }
    case 'stop': {
      const { stopMain } = await import('./status.js');
      return stopMain(argv.slice(1));
    }
    case 'reload': {
      const { reloadMain } = await import('./status.js');
      return reloadMain(argv.slice(1));
    }
    case 'start': {
      const { startMain } = await import('./restart.js');
      return startMain(argv.slice(1));
    }
    case 'restart': {
      const { restartMain } = await import('./restart.js');
      return restartMain(argv.slice(1));
    }
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
    case 'demo': {
      const { demoMain } = await import('./demo.js');
      return demoMain(argv.slice(1));
    }
    case 'realserver': {
      const { realserverMain } = await import('./realserver.js');
      return realserverMain(argv.slice(1));
    }
    case 'doctor': {
      const { doctorMain } = await import('./doctor.js');
      // check against the running director's table when there is one
      let services: import('./doctor.js').DoctorService[] | undefined;
      if (process.getuid?.() === 0) {
        const { connectIfRunning } = await import('./daemon-client.js');
        const c = await connectIfRunning().catch(() => null);
        if (c) {
          services = await c
            .request<import('./doctor.js').DoctorService[]>('services')
            .catch(() => undefined);
          c.close();
        }
      }
      return doctorMain(argv.slice(1), services);
    }
    default:
      process.stderr.write(`lvsd: unknown command '${cmd}'\nTry 'lvsd --help' for more information.\n`);
      return 2;
  }
}
