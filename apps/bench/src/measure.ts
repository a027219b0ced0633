/** What a consumer process reports for one round. */
export interface RoundResult {
  readonly received: number;
  readonly wallMs: number;
  /** user + system CPU over the receive window. */
  readonly cpuUs: number;
  readonly rssBytes: number;
}

/** Measures the receive window: from the first message to the `expected`-th. */
export class ReceiveWindow {
  private count = 0;
  private startCpu: NodeJS.CpuUsage | undefined;
  private startTime = 0n;

  constructor(
    private readonly expected: number,
    private readonly onDone: (result: RoundResult) => void,
  ) {}

  /** Call once per message; cheap on purpose. */
  tick(): void {
    if (this.count === 0) {
      this.startCpu = process.cpuUsage();
      this.startTime = process.hrtime.bigint();
    }
    this.count++;
    if (this.count === this.expected) {
      const cpu = process.cpuUsage(this.startCpu);
      const wallMs = Number(process.hrtime.bigint() - this.startTime) / 1e6;
      this.onDone({ received: this.count, wallMs, cpuUs: cpu.user + cpu.system, rssBytes: process.memoryUsage().rss });
    }
  }

  get received(): number {
    return this.count;
  }
}

/** Messages between the orchestrator and a consumer process. */
export type ConsumerMessage = { type: 'ready' } | { type: 'progress'; received: number; rssBytes: number } | { type: 'done'; result: RoundResult };
