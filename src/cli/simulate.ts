/** `lvsd simulate`: placeholder until the engine pipeline exists. */
export async function runSimulation(_argv: string[]): Promise<number> {
  process.stderr.write('lvsd simulate: the engine is not wired yet\n');
  return 1;
}
