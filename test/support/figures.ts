import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

/** Where fault suites leave their figures; test/support/reliability-report.ts turns them into RELIABILITY.md. */
export const FIGURES_DIR = join(process.cwd(), '.tmp', 'reliability');

/** Saves one suite's section (markdown) for RELIABILITY.md. */
export function writeFigures(name: string, markdown: string): void {
  mkdirSync(FIGURES_DIR, { recursive: true });
  writeFileSync(join(FIGURES_DIR, `${name}.md`), markdown);
}
