import { fork, type ChildProcess } from 'node:child_process';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { cpus } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { mosquittoVersion, startBroker } from './broker.js';
import { replaceLoadBlock } from './load-block.js';
import { DeviceFleet, TICK_MS } from './load-devices.js';
import { nowMs, type MemberCommand, type MemberMessage, type MemberMode } from './load-protocol.js';
import { handledInWindow, renderLoadBlock, type InstanceFigures, type PhaseFigures } from './load-report.js';
import { LoadTracker } from './load-tracker.js';

/**
 * `npm run load`: LOAD_DEVICES mqtt.js devices (default 500) publish QoS 1 telemetry at LOAD_RATE msg/s in total into
 * two app instances in one `$share` group on a private Mosquitto: first two bare mqtt.js clients (the baseline), then
 * two nestjs-mqtt apps (load-member.ts), each for LOAD_WARMUP s (default 5) + LOAD_SECONDS s (default 30) + a drain.
 * Prints the figures and writes them to BENCHMARKS.md between the load markers (the rest of the file is untouched).
 *
 * Writing: LOAD_WRITE=1 writes, LOAD_WRITE=0 does not; unset, only a run with every LOAD_* setting at its default
 * writes, so a short run (CI: LOAD_SECONDS=5 LOAD_DEVICES=100) never replaces the real figure.
 *
 * Exit code 1 when a message the broker acknowledged was never handled (loss is a correctness failure), in either
 * phase, or when a phase cannot run; never for speed.
 *
 * LOAD_RATE default 10,000 msg/s (20 per device): on the 2-core bench machine about a quarter of the machine is busy
 * and the devices keep their schedule, so the figure measures the consumers, not a queue. Measured when it was set:
 * both pairs kept up with no loss up to 30,000 msg/s (70% busy); at 40,000 the machine saturates (95% busy) and
 * latency is queueing (p50 15-20 ms), with the single device process the first to run out (75% of a core).
 */
const DEFAULTS = { LOAD_DEVICES: 500, LOAD_RATE: 10_000, LOAD_SECONDS: 30, LOAD_WARMUP: 5 } as const;
const setting = (name: keyof typeof DEFAULTS): number => {
  const value = Number(process.env[name] ?? DEFAULTS[name]);
  if (!(value > 0)) throw new Error(`${name} must be a positive number, got ${process.env[name]}`);
  return value;
};
const DEVICES = Math.floor(setting('LOAD_DEVICES'));
const RATE = setting('LOAD_RATE');
const SECONDS = setting('LOAD_SECONDS');
const WARMUP = setting('LOAD_WARMUP');
const overridden = (Object.keys(DEFAULTS) as (keyof typeof DEFAULTS)[]).filter((name) => process.env[name] !== undefined);
const WRITE = process.env.LOAD_WRITE !== undefined ? process.env.LOAD_WRITE === '1' : overridden.length === 0;
/** The drain ends when nothing has progressed for this long: what is still missing then is lost. */
const DRAIN_IDLE_MS = 10_000;
const START_TIMEOUT_MS = 30_000;
const MEMBER = new URL('./load-member.js', import.meta.url);
const INSTANCES = 2;

/** One consumer process, with request/response over IPC for marks and flushes (answered in order). */
class Member {
  private readonly waiting: ((message: MemberMessage) => void)[] = [];
  private exited = false;

  private constructor(
    private readonly child: ChildProcess,
    tracker: LoadTracker,
    index: number,
  ) {
    child.on('message', (message: MemberMessage) => {
      if (message.type === 'batch') tracker.onBatch(index, message.records);
      else if (message.type === 'mark' || message.type === 'flushed') this.waiting.shift()?.(message);
    });
    child.once('exit', () => (this.exited = true));
  }

  static async start(mode: MemberMode, url: string, index: number, tracker: LoadTracker): Promise<Member> {
    const child = fork(MEMBER, [mode, url], { stdio: ['ignore', 'inherit', 'inherit', 'ipc'], serialization: 'advanced' });
    const member = new Member(child, tracker, index);
    let timer: NodeJS.Timeout | undefined;
    try {
      await new Promise<void>((resolve, reject) => {
        timer = setTimeout(() => reject(new Error(`${mode} instance ${index} not ready after ${START_TIMEOUT_MS} ms`)), START_TIMEOUT_MS);
        child.on('message', (message: MemberMessage) => {
          if (message.type === 'ready') resolve();
          else if (message.type === 'error') reject(new Error(`${mode} instance ${index}: ${message.message}`));
        });
        child.once('exit', (code) => reject(new Error(`${mode} instance ${index} exited with ${code}`)));
      });
    } catch (error) {
      child.kill();
      throw error;
    } finally {
      clearTimeout(timer);
    }
    return member;
  }

  private request(command: MemberCommand): Promise<MemberMessage> {
    if (this.exited) return Promise.reject(new Error('instance exited'));
    return new Promise((resolve) => {
      this.waiting.push(resolve);
      this.child.send(command);
    });
  }

  async mark(): Promise<{ cpuUs: number; rssBytes: number }> {
    const reply = await this.request({ type: 'mark' });
    if (reply.type !== 'mark') throw new Error(`expected a mark, got ${reply.type}`);
    return reply;
  }

  async flush(): Promise<void> {
    await this.request({ type: 'flush' });
  }

  async stop(): Promise<void> {
    if (this.exited) return;
    const exited = new Promise<void>((resolve) => this.child.once('exit', () => resolve()));
    this.child.disconnect();
    await Promise.race([exited, sleep(5_000)]);
    if (!this.exited) this.child.kill();
  }
}

/** Busy and idle time of all cores, for the machine's load over the window. */
function machineTimes(): { busy: number; idle: number } {
  let busy = 0;
  let idle = 0;
  for (const { times } of cpus()) {
    busy += times.user + times.nice + times.sys + times.irq;
    idle += times.idle;
  }
  return { busy, idle };
}

async function runPhase(mode: MemberMode, url: string, fleet: DeviceFleet): Promise<PhaseFigures> {
  // Room for every message the schedule can send, plus slack for a late stop.
  const capacity = Math.ceil(RATE * (WARMUP + SECONDS + 1)) + DEVICES;
  const tracker = new LoadTracker(DEVICES, capacity);
  const members: Member[] = [];
  try {
    for (let index = 0; index < INSTANCES; index++) members.push(await Member.start(mode, url, index, tracker));
    fleet.noSubscriberAcks = 0;
    const pacer = fleet.pace(RATE, capacity, tracker);
    await sleep(WARMUP * 1000);

    const windowStart = nowMs();
    const cpuStart = process.cpuUsage();
    const machineStart = machineTimes();
    const marksStart = await Promise.all(members.map((m) => m.mark()));
    await sleep(SECONDS * 1000);
    const windowEnd = nowMs();
    const cpuEnd = process.cpuUsage(cpuStart);
    const machineEnd = machineTimes();
    const marksEnd = await Promise.all(members.map((m) => m.mark()));
    const { maxLagMs } = pacer.stop();

    // Drain: wait while acknowledgements and handlings still arrive.
    let progress = -1;
    let idleSince = Date.now();
    while (!tracker.drained && Date.now() - idleSince < DRAIN_IDLE_MS) {
      await sleep(100);
      if (tracker.progress !== progress) [progress, idleSince] = [tracker.progress, Date.now()];
    }
    // Everything a member handled before the flush is in the tracker once its reply arrives (IPC keeps order).
    await Promise.all(members.map((m) => m.flush()));

    const windowSeconds = (windowEnd - windowStart) / 1000;
    const instances: InstanceFigures[] = members.map((_, i) => ({ cpuUs: marksEnd[i]!.cpuUs - marksStart[i]!.cpuUs, rssBytes: marksEnd[i]!.rssBytes }));
    const busy = machineEnd.busy - machineStart.busy;
    return {
      mode,
      windowSeconds,
      counts: tracker.counts(windowStart, windowEnd, INSTANCES),
      instances,
      devicesCpuUs: cpuEnd.user + cpuEnd.system,
      machineBusy: busy / (busy + machineEnd.idle - machineStart.idle),
      maxPaceLagMs: maxLagMs,
      noSubscriberAcks: fleet.noSubscriberAcks,
    };
  } finally {
    await Promise.all(members.map((m) => m.stop()));
  }
}

function summary(phase: PhaseFigures): string {
  const c = phase.counts;
  const l = c.latency;
  return (
    `${phase.mode}: sent ${(c.sentInWindow / phase.windowSeconds).toFixed(0)} msg/s, handled ${(handledInWindow(phase) / phase.windowSeconds).toFixed(0)} msg/s ` +
    `(${c.handledInWindow.join(' / ')}), latency p50 ${l.p50.toFixed(2)} ms p99 ${l.p99.toFixed(2)} ms max ${l.max.toFixed(2)} ms over ${l.samples}, ` +
    `published ${c.published}, acked ${c.acked}, failed ${c.failed}, unsettled ${c.unsettled}, lost ${c.lost}, duplicates ${c.duplicates}, unknown ${c.unknown}, ` +
    `CPU ${phase.instances.map((i) => ((100 * i.cpuUs) / 1e6 / phase.windowSeconds).toFixed(0) + '%').join(' / ')}, devices ${((100 * phase.devicesCpuUs) / 1e6 / phase.windowSeconds).toFixed(0)}%, ` +
    `machine ${(100 * phase.machineBusy).toFixed(0)}%, pace lag max ${phase.maxPaceLagMs.toFixed(1)} ms, no-subscriber PUBACKs ${phase.noSubscriberAcks}`
  );
}

async function main(): Promise<void> {
  const broker = await startBroker();
  // startBroker() picks a free port; the machine's own Mosquitto on 1883 must never see this load.
  if (broker.port === 1883) throw new Error('refusing to load the broker on 1883');
  const phases: PhaseFigures[] = [];
  try {
    const fleet = await DeviceFleet.connect(broker.url, DEVICES);
    console.log(`load: ${DEVICES} devices connected to ${broker.url}; ${RATE} msg/s, ${WARMUP} s warm-up, ${SECONDS} s measured`);
    try {
      for (const mode of ['raw', 'nest'] as const) {
        phases.push(await runPhase(mode, broker.url, fleet));
        console.log(summary(phases.at(-1)!));
      }
    } finally {
      await fleet.close();
    }
  } finally {
    await broker.stop();
  }

  const settings = overridden.map((name) => `${name}=${process.env[name]} `).join('');
  const block = renderLoadBlock({
    date: new Date().toISOString(),
    mosquitto: await mosquittoVersion(),
    devices: DEVICES,
    rate: RATE,
    warmupSeconds: WARMUP,
    seconds: SECONDS,
    tickMs: TICK_MS,
    command: settings ? `${settings}node dist/bench/src/load.js` : 'npm run load',
    phases,
  });
  console.log(`\n${block}\n`);
  if (WRITE) {
    const path = join(process.cwd(), 'BENCHMARKS.md');
    writeFileSync(path, replaceLoadBlock(existsSync(path) ? readFileSync(path, 'utf8') : '', block));
    console.log(`load: wrote the load block of ${path}`);
  } else {
    console.log('load: BENCHMARKS.md not written (LOAD_WRITE=0, or a LOAD_* setting differs from its default)');
  }
  const lossy = phases.filter((p) => p.counts.lost > 0);
  if (lossy.length > 0) {
    console.error(`load: FAILED: acknowledged messages never handled: ${lossy.map((p) => `${p.mode} ${p.counts.lost}`).join(', ')}`);
    process.exitCode = 1;
  }
}

main().catch((error: unknown) => {
  console.error(error);
  process.exitCode = 1;
});
