/** Collects items pushed by handlers; tests await a count instead of sleeping. */
export class Inbox<T> {
  readonly items: T[] = [];
  private readonly waiters: Array<{ done: (items: readonly T[]) => boolean; resolve: () => void }> = [];

  push(item: T): void {
    this.items.push(item);
    for (const waiter of [...this.waiters]) {
      if (waiter.done(this.items)) {
        this.waiters.splice(this.waiters.indexOf(waiter), 1);
        waiter.resolve();
      }
    }
  }

  /** Resolves with the first `count` items once they arrived; rejects after `timeoutMs`. */
  async waitFor(count: number, timeoutMs = 5_000): Promise<T[]> {
    await this.until((items) => items.length >= count, timeoutMs, `${count} item(s)`);
    return this.items.slice(0, count);
  }

  /** Resolves once `done(items)` holds, checked now and after every push; rejects after `timeoutMs`. */
  until(done: (items: readonly T[]) => boolean, timeoutMs = 5_000, what = 'the expected items'): Promise<void> {
    if (done(this.items)) return Promise.resolve();
    return new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => {
        this.waiters.splice(this.waiters.indexOf(waiter), 1);
        reject(new Error(`expected ${what}, got ${this.items.length}: ${JSON.stringify(this.items).slice(0, 500)}`));
      }, timeoutMs);
      const waiter = {
        done,
        resolve: () => {
          clearTimeout(timer);
          resolve();
        },
      };
      this.waiters.push(waiter);
    });
  }

  clear(): void {
    this.items.length = 0;
  }
}
