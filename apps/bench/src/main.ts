import 'reflect-metadata';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { mosquittoVersion, startBroker } from './broker.js';
import type { RoundResult } from './measure.js';
import { extractLoadBlock } from './load-block.js';
import { bootstrapMs, publishThroughput, routerNsPerMatch } from './micro-benches.js';
import { renderReport, type BenchReport, type WorkloadFigures } from './report.js';
import { runRound } from './round.js';
import { WORKLOADS } from './workloads.js';

const MESSAGES = Number(process.env.BENCH_MESSAGES ?? 100_000);
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 5);

async function main(): Promise<void> {
  const broker = await startBroker();
  try {
    // publish() first, while this process and the broker are fresh: later the heap carries the rounds' garbage.
    const publish = [
      await publishThroughput(broker.url, 0, 100_000),
      // Same window as bare mqtt.js: what the wrapper costs.
      await publishThroughput(broker.url, 1, 20_000, 100),
      // The default window (20, Mosquitto's max_inflight_messages): what flow control costs.
      await publishThroughput(broker.url, 1, 20_000),
    ];
    for (const p of publish) {
      console.log(
        `publish QoS ${p.qos}: bare ${p.raw.toFixed(0)} msg/s ${p.rawCpuUs.toFixed(2)} µs CPU, nestjs-mqtt ${p.library.toFixed(0)} msg/s ${p.libraryCpuUs.toFixed(2)} µs CPU`,
      );
    }
    const workloads: WorkloadFigures[] = [];
    for (const workload of WORKLOADS) {
      const raw: RoundResult[] = [];
      const nest: RoundResult[] = [];
      for (let round = 0; round < ROUNDS; round++) {
        raw.push(await runRound(broker.url, workload, 'raw', MESSAGES));
        nest.push(await runRound(broker.url, workload, 'nest', MESSAGES));
        const r = raw.at(-1)!;
        const n = nest.at(-1)!;
        console.log(
          `${workload.name} round ${round + 1}: bare ${(r.cpuUs / MESSAGES).toFixed(2)} µs/msg, nestjs-mqtt ${(n.cpuUs / MESSAGES).toFixed(2)} µs/msg (${(n.cpuUs / r.cpuUs).toFixed(3)}x)`,
        );
      }
      workloads.push({ name: workload.name, target: workload.target, raw, nest, messages: MESSAGES });
    }

    const router = {
      smallCount: 10,
      largeCount: 10_000,
      cached: { small: routerNsPerMatch(10, 1_000), large: routerNsPerMatch(10_000, 1_000) },
      uncached: { small: routerNsPerMatch(10, 20_000), large: routerNsPerMatch(10_000, 20_000) },
    };
    console.log(`router: ${JSON.stringify(router)}`);
    const bootstrap = { handlers: 1_000, ms: [] as number[] };
    for (let i = 0; i < 3; i++) bootstrap.ms.push(await bootstrapMs(broker.url, 1_000));
    console.log(`bootstrap with 1,000 handlers: ${bootstrap.ms.map((ms) => ms.toFixed(0)).join(', ')} ms`);

    const report: BenchReport = { date: new Date().toISOString(), mosquitto: await mosquittoVersion(), workloads, router, publish, bootstrap };
    const markdown = renderReport(report);
    const path = join(process.cwd(), 'BENCHMARKS.md');
    // The load figure comes from `npm run load`, not from this run: carry its block over.
    const load = existsSync(path) ? extractLoadBlock(readFileSync(path, 'utf8')) : undefined;
    writeFileSync(path, load ? `${markdown}\n${load}\n` : markdown);
    console.log(`\n${markdown}`);
  } finally {
    await broker.stop();
  }
}

main().catch((error: unknown) => {
  console.error(error);
  process.exitCode = 1;
});
