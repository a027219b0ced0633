import { afterAll, beforeAll } from '@jest/globals';

/**
 * Collects the suite's unhandled rejections instead of letting Node end the process with them, so a
 * test can assert that there were none. Node reports one once the microtask queue is empty, so
 * `settled()` waits for two macrotask turns first.
 */
export function unhandledRejections(): { readonly reasons: unknown[]; settled(): Promise<readonly unknown[]> } {
  const reasons: unknown[] = [];
  const record = (reason: unknown): void => {
    reasons.push(reason);
  };
  beforeAll(() => {
    process.on('unhandledRejection', record);
  });
  afterAll(() => {
    process.off('unhandledRejection', record);
  });
  const turn = (): Promise<void> => new Promise((resolve) => setImmediate(resolve));
  return {
    reasons,
    async settled() {
      await turn();
      await turn();
      return reasons;
    },
  };
}
