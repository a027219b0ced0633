/** Collects items pushed by handlers; tests await a count instead of sleeping. */
export class Inbox<T> {
  readonly items: T[] = [];
  private readonly waiters: Array<{ count: number; resolve: (items: T[]) => void }> = [];

  push(item: T): void {
    this.items.push(item);
    for (const waiter of [...this.waiters]) {
      if (this.items.length >= waiter.count) {
        this.waiters.splice(this.waiters.indexOf(waiter), 1);
        waiter.resolve(this.items.slice(0, waiter.count));
      }
    }
  }

  /** Resolves with the first `count` items once they arrived; rejects after `timeoutMs`. */
  waitFor(count: number, timeoutMs = 5_000): Promise<T[]> {
    if (this.items.length >= count) return Promise.resolve(this.items.slice(0, count));
    return new Promise<T[]>((resolve, reject) => {
      const timer = setTimeout(() => {
        this.waiters.splice(this.waiters.indexOf(waiter), 1);
        reject(new Error(`expected ${count} item(s), got ${this.items.length}: ${JSON.stringify(this.items).slice(0, 500)}`));
      }, timeoutMs);
      const waiter = {
        count,
        resolve: (items: T[]) => {
          clearTimeout(timer);
          resolve(items);
        },
      };
      this.waiters.push(waiter);
    });
  }

  clear(): void {
    this.items.length = 0;
  }
}
