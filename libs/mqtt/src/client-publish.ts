import type { IClientPublishOptions, MqttClient, Packet } from 'mqtt';

/** mqtt.js's error for a publish it dropped from its queue when the connection closed. */
const UNSENT_ON_CLOSE = 'Connection closed';

/**
 * `client.publish()`, except that a QoS 1/2 publish mqtt.js dropped unsent is handed back to it.
 * mqtt.js fails such a publish with 'Connection closed' when it was queued behind the resend of its
 * store and the connection fell first (mqtt.js #2015). It was never written, so handing it back cannot
 * duplicate it: it waits in the store for the next connection like any offline publish. Not
 * synchronously: mqtt.js calls back while it still empties that queue, and would drop it again at once.
 * A closing client refuses it ('client disconnecting'), which ends the loop.
 */
export function publishThrough(
  client: MqttClient,
  topic: string,
  body: Buffer | string,
  options: IClientPublishOptions,
  closed: () => boolean,
  done: (error: Error | undefined, packet: Packet | undefined) => void,
): void {
  const attempt = (): void => {
    client.publish(topic, body, options, (error, packet) => {
      if (error && (options.qos ?? 0) > 0 && error.message === UNSENT_ON_CLOSE && !closed()) {
        setImmediate(attempt);
        return;
      }
      done(error, packet);
    });
  };
  attempt();
}
