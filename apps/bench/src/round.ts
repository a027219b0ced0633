import { fork } from 'node:child_process';
import mqtt from 'mqtt';
import type { ConsumerMessage, RoundResult } from './measure.js';
import type { Workload } from './workloads.js';

export type ConsumerMode = 'raw' | 'nest';

const CONSUMER = new URL('./consumer.js', import.meta.url);
/** Messages the publisher may be ahead of the consumer: keeps QoS 0 from being dropped under load. */
const WINDOW = 4_000;
const ROUND_TIMEOUT_MS = 120_000;

/** One round: a fresh consumer process receives `count` messages published from here with flow control. */
export async function runRound(
  url: string,
  workload: Workload,
  mode: ConsumerMode,
  count: number,
  onProgress?: (received: number, rssBytes: number) => void,
): Promise<RoundResult> {
  const child = fork(CONSUMER, [mode, workload.name, url, String(count)], { stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
  let received = 0;
  let wake: (() => void) | undefined;
  const done = new Promise<RoundResult>((resolve, reject) => {
    const timer = setTimeout(
      () => reject(new Error(`${mode} / ${workload.name}: ${received} of ${count} messages after ${ROUND_TIMEOUT_MS} ms`)),
      ROUND_TIMEOUT_MS,
    );
    child.on('message', (message: ConsumerMessage) => {
      if (message.type === 'progress') {
        received = message.received;
        onProgress?.(message.received, message.rssBytes);
        wake?.();
      } else if (message.type === 'done') {
        clearTimeout(timer);
        resolve(message.result);
      }
    });
    child.once('exit', (code) => code !== 0 && code !== null && reject(new Error(`${mode} consumer exited with ${code}`)));
  });
  done.catch(() => undefined);
  await new Promise<void>((resolve) => child.on('message', (message: ConsumerMessage) => message.type === 'ready' && resolve()));

  const publisher = await mqtt.connectAsync(url, { clean: true });
  try {
    for (let i = 0; i < count; i++) {
      while (i - received >= WINDOW) {
        await new Promise<void>((resolve) => (wake = resolve));
      }
      publisher.publish(workload.topic(i), `{"i":${i},"t":21.5,"ts":${Date.now()}}`, { qos: workload.qos });
    }
    return await done;
  } finally {
    wake = undefined;
    await publisher.endAsync();
    child.disconnect();
    child.kill();
  }
}
