import type { IClientOptions } from 'mqtt';
import type { MqttAckMode } from '../interfaces/mqtt-handler.interface.js';
import type { MqttPayload, PayloadFormat, QoS } from '../interfaces/mqtt-message.interface.js';
import type { MqttWillProperties } from '../protocol/publish-properties.js';

export type MqttProtocol = 'mqtt' | 'mqtts' | 'ws' | 'wss';

/** PEM contents, or a path to a PEM file. */
export type PemSource = string | Buffer;

export interface MqttTlsOptions {
  /** CA certificate(s) that sign the broker's certificate. Without it, Node's default CAs. */
  ca?: PemSource | PemSource[];
  /** Client certificate for mutual TLS. */
  cert?: PemSource;
  /** Client private key for mutual TLS. */
  key?: PemSource;
  passphrase?: string;
  ciphers?: string;
  /** Lowest TLS version accepted; TLS 1.2 unless raised to 1.3. */
  minVersion?: 'TLSv1.2' | 'TLSv1.3';
  /** Host name to verify the certificate against (SNI), when it differs from the URL's host. */
  servername?: string;
  /**
   * `false` turns certificate verification off: any certificate is accepted, so anyone on the path can
   * impersonate the broker. Logged as a warning at every connect. For a private CA give `ca`; for a
   * certificate that names another host, `servername` or `insecure: true`.
   */
  rejectUnauthorized?: boolean;
}

export interface MqttWillOptions {
  topic: string;
  payload?: MqttPayload;
  qos?: QoS;
  retain?: boolean;
  /** MQTT 5: willDelayInterval, payloadFormatIndicator, messageExpiryInterval, contentType, responseTopic, correlationData, userProperties. */
  properties?: MqttWillProperties;
}

/** How `app.init()` treats the first connection. */
export type MqttConnectPolicy = 'wait' | 'background';

/**
 * One broker of a failover list (`servers`): its URL, and the credentials or TLS options it needs when they
 * differ from the top-level ones.
 */
export interface MqttServerOptions {
  /** `mqtt://`, `mqtts://`, `ws://` or `wss://` URL; credentials in it are used and never logged. */
  url: string;
  /** This server's user name, instead of the top-level `username`. */
  username?: string;
  /** This server's password, instead of the top-level `password`. */
  password?: string | Buffer;
  /** This server's TLS options, instead of (not merged with) the top-level `tls`. Only with `mqtts:`/`wss:`. */
  tls?: MqttTlsOptions;
}

export interface MqttModuleOptions {
  /**
   * `mqtt://`, `mqtts://`, `ws://` or `wss://` URL; credentials in it are used and never logged. Several URLs are a
   * failover list: the first is tried first, and after a connection fails or drops the next attempt goes to the
   * next one (wrapping around), at the `reconnectPeriod` pace. All of them TLS or none.
   */
  url?: string | string[];
  /**
   * A failover list whose brokers need their own credentials or TLS options; instead of `url`. Each server's
   * `username`, `password` and `tls` replace the top-level ones for that server.
   */
  servers?: MqttServerOptions[];
  /** Alternative to `url`. */
  host?: string;
  port?: number;
  protocol?: MqttProtocol;
  /** Path for WebSocket transports. */
  path?: string;
  /**
   * Unique per instance when absent (`nestjs-mqtt_<random>`). A durable session (`clean: false`) needs one that the
   * next process of this instance uses again: `stableClientId()` builds one from the host name.
   */
  clientId?: string;
  username?: string;
  password?: string | Buffer;
  /** Seconds, 0-65535. */
  keepalive?: number;
  /** Clean session (3.1.1) / clean start (5). `false` needs a fixed `clientId`. */
  clean?: boolean;
  protocolVersion?: 3 | 4 | 5;
  /**
   * MQTT 5 session expiry in seconds: how long the broker keeps the session after a disconnect.
   * With `clean: false` it defaults to `MQTT_DEFAULTS.durableSessionExpiryInterval` (never expires,
   * as a 3.1.1 session; the broker may cap it), otherwise 0 (the session ends at disconnect).
   */
  sessionExpiryInterval?: number;
  tls?: MqttTlsOptions;
  /**
   * Skip the host-name check of the broker's certificate; its chain is still verified against `tls.ca`
   * (Flask-MQTT's MQTT_TLS_INSECURE, paho's `tls_insecure_set(True)`). Logged as a warning.
   */
  insecure?: boolean;
  will?: MqttWillOptions;
  /** `wait`: `app.init()` waits for the CONNACK (up to `connectTimeout`) and fails otherwise. `background`: it does not wait. */
  connect?: MqttConnectPolicy;
  /** Milliseconds to wait for a CONNACK. */
  connectTimeout?: number;
  /** Milliseconds between reconnect attempts; 0 disables reconnecting. */
  reconnectPeriod?: number;
  /** Packet-level debug logs through Nest's Logger, secrets redacted (Flask-MQTT's mqtt_logging). */
  logging?: boolean;
  /** Default shared-subscription group for decorated handlers (`$share/<group>/<filter>`). */
  share?: string;
  /** Default payload format for handlers. */
  payload?: PayloadFormat;
  /** Default acknowledgement mode for handlers of QoS 1/2 messages. */
  ack?: MqttAckMode;
  /** Largest payload published or decoded, in bytes. */
  maxPayloadBytes?: number;
  /** Milliseconds `app.close()` waits for running handlers before it disconnects. */
  shutdownTimeout?: number;
  /** Publishes that may wait for a connection while offline; more reject with MqttPublishError. */
  offlineQueueLimit?: number;
  /**
   * QoS 1/2 publishes sent and not yet acknowledged; more wait their turn, in order. An MQTT 5 broker's
   * Receive Maximum lowers it. Brokers refuse what exceeds their limit (Mosquitto: max_inflight_messages,
   * 20), and on MQTT 3.1.1 they cannot say so: the message is acknowledged and dropped.
   */
  maxInflight?: number;
  /**
   * Milliseconds a sent QoS 1/2 publish may wait for the broker's acknowledgement while connected (PUBACK, or
   * PUBREC and PUBCOMP) before `publish()` rejects with MqttPublishError and its flow-control slot is freed; 0:
   * wait forever. Time offline does not count: the publish is sent again on the next connection. Some brokers
   * never answer what they do not support (NATS before 2.10: a QoS 2 PUBLISH).
   */
  publishTimeout?: number;
  /** Queue QoS 0 publishes while offline (true), or reject them at once (false). */
  queueQos0Offline?: boolean;
  /** Drop QoS 1 redeliveries (DUP) of a message handled within this many milliseconds; off when absent. */
  dedupeWindowMs?: number;
  /**
   * Handlers publish their return value to an MQTT 5 request's response topic (default false;
   * per handler with `@OnTopic(f, { reply: true })`). The sender of a message chooses that topic.
   */
  reply?: boolean;
  /** Error replies carry the handler's error text; by default a generic one (error texts leak internals). */
  replyErrorDetails?: boolean;
  /** Bytes of replies that may wait to be written or acknowledged; replies beyond are dropped with a warning. */
  replyBacklogBytes?: number;
  /**
   * OpenTelemetry traces and metrics (default true): used when `@opentelemetry/api` is installed and the app
   * registered a tracer or meter provider before creating the Nest app. `false` never loads the API.
   */
  telemetry?: boolean;
  /** Raw mqtt.js options for everything else; applied before the options above. */
  clientOptions?: Partial<IClientOptions>;
}

/**
 * What is checked of the broker's certificate: `full` (chain and host name), `no-hostname`
 * (`insecure: true`: chain only) or `off` (`tls.rejectUnauthorized: false`: nothing).
 */
export type MqttTlsVerification = 'full' | 'no-hostname' | 'off';
