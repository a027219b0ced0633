import 'reflect-metadata';
import { startBroker } from './broker.js';
import { runRound } from './round.js';
import { WORKLOADS } from './workloads.js';

/**
 * `npm run soak`: one million QoS 0 messages through decorated handlers in one consumer process.
 * Reports throughput and the consumer's RSS after the first tenth (warm) and at the end; fails
 * when RSS grew by 10% or more. SOAK_MESSAGES shortens it (CI runs 100,000).
 */
const MESSAGES = Number(process.env.SOAK_MESSAGES ?? 1_000_000);
const MAX_GROWTH = 0.1;

async function main(): Promise<void> {
  const broker = await startBroker();
  try {
    const workload = WORKLOADS[2]; // 1,000 wildcard handlers: the router's hardest case
    let warmRss = 0;
    const result = await runRound(broker.url, workload, 'nest', MESSAGES, (received, rss) => {
      if (received === Math.floor(MESSAGES / 10 / 1_000) * 1_000) warmRss = rss;
    });
    const growth = (result.rssBytes - warmRss) / warmRss;
    const mib = (bytes: number) => (bytes / 1024 / 1024).toFixed(1);
    console.log(
      `soak: ${MESSAGES.toLocaleString('en-US')} messages through ${workload.filters.length.toLocaleString('en-US')} decorated handlers (${workload.name}) in ${(result.wallMs / 1000).toFixed(1)} s, ` +
        `${Math.round(MESSAGES / (result.wallMs / 1000)).toLocaleString('en-US')} msg/s, ${(result.cpuUs / MESSAGES).toFixed(2)} µs CPU/msg; ` +
        `RSS ${mib(warmRss)} MiB after ${(MESSAGES / 10).toLocaleString('en-US')} messages, ${mib(result.rssBytes)} MiB at the end (${(growth * 100).toFixed(1)}% growth, limit ${MAX_GROWTH * 100}%)`,
    );
    if (!(growth < MAX_GROWTH)) process.exitCode = 1;
  } finally {
    await broker.stop();
  }
}

main().catch((error: unknown) => {
  console.error(error);
  process.exitCode = 1;
});
