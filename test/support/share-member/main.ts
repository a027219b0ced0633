// One member of a `$share` group, run as its own process by test/shared-group-processes.e2e-spec.ts (transpiled by
// test/support/child-app.ts). It reports every handled message to the test over IPC and acknowledges it only after
// that report was written to the channel ('after-handler'): a message the broker saw acknowledged was reported, even
// when the process is killed the next instant, since what is written to the pipe stays readable after the writer died.
import 'reflect-metadata';
import { Injectable, Module, type DynamicModule } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import type { IConnackPacket, IPublishPacket } from 'mqtt';
import { MqttModule, OnConnect, OnSubscribe, OnTopic, Packet, Payload, type TopicQos } from 'nestjs-mqtt';
import { LOAD_TOPIC, MEMBER_ENV, SHARE_GROUP, type MemberReport } from './reports.js';

/** Resolves once the report is written to the IPC channel. */
function report(message: MemberReport): Promise<void> {
  return new Promise((resolve, reject) => {
    if (!process.send) throw new Error('share-member runs as a child process with an IPC channel');
    process.send(message, undefined, {}, (error: Error | null) => (error ? reject(error) : resolve()));
  });
}

@Injectable()
class Worker {
  @OnTopic(`${LOAD_TOPIC}/+`, { share: SHARE_GROUP, qos: 1, ack: 'after-handler' })
  async onLoad(@Payload() payload: { seq: number }, @Packet() packet: IPublishPacket): Promise<void> {
    await report({ type: 'handled', seq: payload.seq, dup: packet.dup });
  }

  @OnConnect()
  async onConnect(connack: IConnackPacket): Promise<void> {
    await report({ type: 'connected', sessionPresent: connack.sessionPresent });
  }

  @OnSubscribe()
  async onSubscribe(granted: TopicQos[]): Promise<void> {
    await report({ type: 'subscribed', filters: granted.map((grant) => grant.topic) });
  }
}

@Module({})
class MemberModule {
  static forRoot(env: NodeJS.ProcessEnv): DynamicModule {
    const setting = (name: string): string => {
      const value = env[name];
      if (!value) throw new Error(`${name} is not set`);
      return value;
    };
    const durable = env[MEMBER_ENV.durable] === '1';
    return {
      module: MemberModule,
      imports: [
        MqttModule.forRoot({
          url: setting(MEMBER_ENV.url),
          // Absent for clean sessions: the generated one, as the README advises for $share members.
          ...(env[MEMBER_ENV.clientId] ? { clientId: env[MEMBER_ENV.clientId] } : {}),
          protocolVersion: 5,
          clean: !durable,
          // Long enough to outlive the kill and the restart; short enough that a leftover session does not linger.
          ...(durable ? { sessionExpiryInterval: 300 } : {}),
          // The broker publishes it as soon as it sees the connection gone: the test's proof that it did.
          will: { topic: setting(MEMBER_ENV.willTopic), payload: 'gone', qos: 1 },
          reconnectPeriod: 100,
        }),
      ],
      providers: [Worker],
    };
  }
}

async function main(): Promise<void> {
  await NestFactory.createApplicationContext(MemberModule.forRoot(process.env), { logger: ['error', 'warn'] });
  await report({ type: 'ready' });
}

main().catch((error: unknown) => {
  console.error(error);
  process.exit(1);
});
