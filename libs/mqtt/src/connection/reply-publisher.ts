import type { MqttPayload, MqttPublishOptions, MqttPublishProperties } from '../interfaces/mqtt-message.interface.js';
import type { Replier } from '../dispatch/message-dispatcher.js';
import { encodePayload } from '../protocol/payload-codec.js';
import { REPLY_ERROR_PROPERTY } from './request-client.js';
import { assertTopicName } from '../protocol/topic-filter.js';

/**
 * How a reply is published: the connection's one publish path (closed check, offline admission
 * bounded by `offlineQueueLimit`, flow control, `@OnPublish`). `done` is called once, with the
 * typed error when the publish was refused or failed.
 */
export type ReplySender = (topic: string, body: Buffer | string, options: MqttPublishOptions, done: (error: Error | undefined) => void) => void;

/**
 * The responder side of MQTT 5 request/reply: publishes a handler's return value (JSON for objects)
 * or its error (empty payload, user property `error`) to the request's response topic, with its
 * correlation data. Failures to reply are warnings: the request itself was handled.
 *
 * The response topic is chosen by whoever sent the request, so `$`-topics are refused, and the
 * replies not yet written or acknowledged are bounded in bytes: a flood of requests against a
 * slow broker cannot grow memory or crowd out the app's own publishes without limit.
 */
export function createReplier(send: ReplySender, maxPayloadBytes: number, maxBacklogBytes: number, warn: (message: string) => void): Replier {
  let backlogBytes = 0;
  return (request, outcome) => {
    const { responseTopic, correlationData } = request.properties ?? {};
    if (!responseTopic) return;
    const properties: MqttPublishProperties = correlationData ? { correlationData } : {};
    let payload: Buffer | string = '';
    if ('error' in outcome) {
      properties.userProperties = { [REPLY_ERROR_PROPERTY]: outcome.error };
    } else {
      try {
        payload = encodePayload(outcome.value as MqttPayload, maxPayloadBytes);
        if (typeof outcome.value === 'object' && outcome.value !== null && !(outcome.value instanceof Uint8Array)) {
          properties.contentType = 'application/json';
        }
      } catch (error) {
        properties.userProperties = { [REPLY_ERROR_PROPERTY]: `the reply could not be encoded: ${(error as Error).message}` };
      }
    }
    try {
      assertTopicName(responseTopic, 'responseTopic');
    } catch (error) {
      warn(`Reply not sent: ${(error as Error).message}`);
      return;
    }
    if (responseTopic.startsWith('$')) {
      warn(`Reply not sent: the response topic '${responseTopic}' starts with '$' (reserved for the broker)`);
      return;
    }
    // Topic, payload and correlation data: what this reply holds until it is written or acknowledged.
    const bytes = Buffer.byteLength(responseTopic) + Buffer.byteLength(payload) + (correlationData?.length ?? 0);
    if (backlogBytes + bytes > maxBacklogBytes) {
      warn(`Reply to '${responseTopic}' not sent: ${backlogBytes} bytes of replies are still waiting (replyBacklogBytes ${maxBacklogBytes})`);
      return;
    }
    backlogBytes += bytes;
    send(responseTopic, payload, { qos: request.qos === 0 ? 0 : 1, properties }, (error) => {
      backlogBytes -= bytes;
      // The error names the topic already: "Publish to '<response topic>' failed: <reason>".
      if (error) warn(`Reply failed: ${error.message}`);
    });
  };
}
