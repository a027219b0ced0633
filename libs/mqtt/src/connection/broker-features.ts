import type { IConnackPacket } from 'mqtt';
import type { QoS } from '../interfaces/mqtt-message.interface.js';

/**
 * What the broker said it supports in its last CONNACK (MQTT 5 §3.2.2.3: an absent property means supported;
 * MQTT 3.1.1 says nothing, so everything counts as supported there). Sending what the broker said it lacks is a
 * protocol error the broker answers by closing the connection, so the library refuses it first, with a typed
 * error naming what the CONNACK said.
 */
export class BrokerFeatures {
  static readonly ALL = new BrokerFeatures({});

  readonly maximumQos: QoS;
  readonly retain: boolean;
  readonly sharedSubscriptions: boolean;
  readonly subscriptionIdentifiers: boolean;
  readonly wildcardSubscriptions: boolean;

  constructor(properties: NonNullable<IConnackPacket['properties']>) {
    this.maximumQos = properties.maximumQoS === 0 || properties.maximumQoS === 1 ? properties.maximumQoS : 2;
    this.retain = properties.retainAvailable !== false;
    this.sharedSubscriptions = properties.sharedSubscriptionAvailable !== false;
    this.subscriptionIdentifiers = properties.subscriptionIdentifiersAvailable !== false;
    this.wildcardSubscriptions = properties.wildcardSubscriptionAvailable !== false;
  }

  static from(connack: IConnackPacket): BrokerFeatures {
    return connack.properties ? new BrokerFeatures(connack.properties) : BrokerFeatures.ALL;
  }

  /** Why the broker would refuse this publish, or undefined. */
  publishRefusal(qos: QoS, retain: boolean): string | undefined {
    if (qos > this.maximumQos) return `the broker accepts QoS ${this.maximumQos} at most (its CONNACK says Maximum QoS: ${this.maximumQos})`;
    if (retain && !this.retain) return 'the broker keeps no retained messages (its CONNACK says Retain Available: 0)';
    return undefined;
  }

  /** Why the broker would refuse a subscription to this filter, or undefined. */
  subscribeRefusal(filter: string): string | undefined {
    if (!this.sharedSubscriptions && filter.startsWith('$share/')) {
      return 'the broker does not support shared subscriptions (its CONNACK says Shared Subscription Available: 0)';
    }
    if (!this.wildcardSubscriptions && /[+#]/.test(filter)) {
      return 'the broker does not support wildcard subscriptions (its CONNACK says Wildcard Subscription Available: 0)';
    }
    return undefined;
  }
}
