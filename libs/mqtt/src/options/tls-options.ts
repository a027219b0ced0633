import { readFileSync } from 'node:fs';
import { configError } from '../errors/error-factory.js';
import { MqttConfigError } from '../errors/mqtt-config.error.js';
import { assertObject, optionalBoolean, optionalString } from './assert.js';
import { MQTT_DEFAULTS } from './mqtt-defaults.js';
import type { MqttModuleOptions, MqttTlsOptions, MqttTlsVerification, PemSource } from './mqtt-module-options.interface.js';
import { assertKnownOptionKeys, TLS_OPTION_KEYS } from './option-keys.js';

/** TLS options after validation, with certificates and key read. */
export interface ResolvedTls {
  readonly ca?: Buffer[];
  readonly cert?: Buffer;
  readonly key?: Buffer;
  readonly passphrase?: string;
  readonly ciphers?: string;
  readonly minVersion: 'TLSv1.2' | 'TLSv1.3';
  readonly servername?: string;
  readonly rejectUnauthorized: boolean;
}

/**
 * Validates `tls` and reads its certificates and key now, so a wrong path fails at bootstrap. `field` names it in
 * errors: `tls`, or a failover server's `servers[1].tls`.
 */
export function resolveTls(tls: MqttTlsOptions, field = 'tls'): ResolvedTls {
  assertObject(tls, field, configError);
  assertKnownOptionKeys(tls, TLS_OPTION_KEYS, `${field}.`);
  const minVersion = tls.minVersion ?? MQTT_DEFAULTS.tlsMinVersion;
  if (minVersion !== 'TLSv1.2' && minVersion !== 'TLSv1.3') {
    throw new MqttConfigError(`${field}.minVersion`, `must be 'TLSv1.2' or 'TLSv1.3' (older versions are broken), got ${JSON.stringify(minVersion)}`);
  }
  const ca =
    tls.ca === undefined
      ? undefined
      : (Array.isArray(tls.ca) ? tls.ca : [tls.ca]).map((source, i) => readPem(source, Array.isArray(tls.ca) ? `${field}.ca[${i}]` : `${field}.ca`));
  if ((tls.cert === undefined) !== (tls.key === undefined)) {
    throw new MqttConfigError(tls.cert === undefined ? `${field}.cert` : `${field}.key`, `mutual TLS needs both ${field}.cert and ${field}.key`);
  }
  return {
    ca,
    cert: tls.cert === undefined ? undefined : readPem(tls.cert, `${field}.cert`),
    key: tls.key === undefined ? undefined : readPem(tls.key, `${field}.key`),
    passphrase: optionalString(tls.passphrase, `${field}.passphrase`, configError),
    ciphers: optionalString(tls.ciphers, `${field}.ciphers`, configError),
    minVersion,
    servername: optionalString(tls.servername, `${field}.servername`, configError),
    rejectUnauthorized: optionalBoolean(tls.rejectUnauthorized, `${field}.rejectUnauthorized`, configError) ?? true,
  };
}

const PEM_BEGIN = '-----BEGIN';
/** Base64 of `-----BEGIN`: PEM passed base64-encoded, the usual way through an environment variable. */
const BASE64_PEM = /^\s*LS0tLS1CRUdJTi/;

/**
 * PEM contents and base64-encoded PEM pass through; anything else is a file path, read now so a
 * typo fails at bootstrap. A value that failed is shown only when it looks like a path: it may be
 * key material that was mangled on its way (a base64 key body, a truncated PEM).
 */
function readPem(source: PemSource, field: string): Buffer {
  if (Buffer.isBuffer(source)) return source;
  if (typeof source !== 'string' || source.length === 0) {
    throw new MqttConfigError(field, 'expected PEM contents or a file path');
  }
  if (source.includes(PEM_BEGIN)) return Buffer.from(source);
  if (BASE64_PEM.test(source)) {
    const decoded = Buffer.from(source, 'base64');
    if (decoded.toString('latin1').startsWith(`${PEM_BEGIN} `)) return decoded;
  }
  try {
    return readFileSync(source);
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code ?? 'unreadable';
    if (looksLikePath(source)) {
      throw new MqttConfigError(field, `cannot read file '${source}' (${code})`, { cause: error });
    }
    // No cause: Node's error names the path, which is this value.
    throw new MqttConfigError(field, `is neither PEM contents nor a readable file path (${code}); the value is not shown, as it may be key material`);
  }
}

/** Short, printable, and without a long random-looking run (upper, lower and digits, as base64 has). */
function looksLikePath(value: string): boolean {
  if (value.length > 255 || [...value].some((c) => c < ' ' || c === '\u007f')) return false;
  return !value.split(/[/\\.]/).some((part) => part.length >= 16 && /[A-Z]/.test(part) && /[a-z]/.test(part) && /[0-9]/.test(part));
}

/** What is checked of the broker's certificate, from `tls.rejectUnauthorized` and `insecure`; undefined without TLS. */
export function tlsVerification(tls: ResolvedTls | undefined, insecure: boolean): MqttTlsVerification | undefined {
  if (!tls) return undefined;
  return !tls.rejectUnauthorized ? 'off' : insecure ? 'no-hostname' : 'full';
}

/**
 * The raw mqtt.js switches (`clientOptions.rejectUnauthorized`, `clientOptions.wsOptions.rejectUnauthorized`)
 * may turn certificate verification off only along with the explicit `tls.rejectUnauthorized: false`,
 * so `tlsVerification` (and its warning) tells the truth.
 */
export function assertNoRawVerificationSwitch(clientOptions: MqttModuleOptions['clientOptions'], verification: MqttTlsVerification | undefined): void {
  const wsOptions = clientOptions?.wsOptions as { rejectUnauthorized?: unknown } | undefined;
  for (const [field, value] of [
    ['clientOptions.rejectUnauthorized', clientOptions?.rejectUnauthorized],
    ['clientOptions.wsOptions.rejectUnauthorized', wsOptions?.rejectUnauthorized],
  ] as const) {
    if (value === false && verification !== 'off') {
      throw new MqttConfigError(field, 'turning certificate verification off needs the explicit tls: { rejectUnauthorized: false } (logged as a warning)');
    }
  }
}

/** Paho's tls_insecure_set(True): the chain is verified, the host name is not. */
const skipHostNameCheck = (): undefined => undefined;

/** Node's tls.connect options we set (mqtt.js's IClientOptions types only some of them). */
export interface TlsClientOptions {
  ca?: Buffer[];
  cert?: Buffer;
  key?: Buffer;
  passphrase?: string;
  ciphers?: string;
  minVersion: 'TLSv1.2' | 'TLSv1.3';
  servername?: string;
  rejectUnauthorized: boolean;
  checkServerIdentity?: () => undefined;
}

/** Node's tls.connect options for resolved TLS options and the verification they come with. */
export function tlsClientOptions(tls: ResolvedTls, verification: MqttTlsVerification): TlsClientOptions {
  return {
    ...(tls.ca ? { ca: tls.ca } : {}),
    ...(tls.cert ? { cert: tls.cert } : {}),
    ...(tls.key ? { key: tls.key } : {}),
    ...(tls.passphrase !== undefined ? { passphrase: tls.passphrase } : {}),
    ...(tls.ciphers !== undefined ? { ciphers: tls.ciphers } : {}),
    minVersion: tls.minVersion,
    ...(tls.servername !== undefined ? { servername: tls.servername } : {}),
    rejectUnauthorized: verification !== 'off',
    ...(verification === 'no-hostname' ? { checkServerIdentity: skipHostNameCheck } : {}),
  };
}
