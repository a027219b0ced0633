import { existsSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

// Jest loads this teardown outside the ESM test runtime, so it imports nothing of ours.
const FIGURES_DIR = join(process.cwd(), '.tmp', 'reliability');

/** Jest globalTeardown: assembles RELIABILITY.md from the sections the fault suites wrote in this run. */
export default async function writeReliabilityReport(): Promise<void> {
  if (!existsSync(FIGURES_DIR)) return;
  const sections = readdirSync(FIGURES_DIR)
    .filter((file) => file.endsWith('.md'))
    .sort()
    .map((file) => readFileSync(join(FIGURES_DIR, file), 'utf8').trim());
  rmSync(FIGURES_DIR, { recursive: true, force: true });
  // Only a run of every fault suite rewrites the report, so a partial run cannot drop sections.
  if (sections.length < 4) return;
  const header = [
    '# Reliability',
    '',
    `Written by the fault suites in \`test/faults/\` on ${new Date().toISOString()} (Node ${process.version}); every figure comes from that run.`,
    'Reproduce with `npm test -- test/faults` (part of `npm test`). Brokers are private Mosquitto processes started by `test/fixtures/mosquitto.ts`.',
    '',
  ];
  writeFileSync(join(process.cwd(), 'RELIABILITY.md'), `${header.join('\n')}\n${sections.join('\n\n')}\n`);
}
