import { MQTT_MAX_TOPIC_BYTES, MQTT_MAX_TOPIC_LEVELS } from '../mqtt.constants.js';
import { MqttTopicError } from '../errors/mqtt-topic.error.js';

/** A named wildcard of a filter: `+room` binds one level, `#rest` binds the remaining levels. */
export interface TopicFilterParam {
  readonly name: string;
  /** Level index in the match filter (after `$share/<group>/` is removed). */
  readonly level: number;
  /** True for `#name`: the value is the rest of the topic from `level` on (may be empty). */
  readonly rest: boolean;
}

/** A validated topic filter, in the three forms the library needs. */
export interface ParsedTopicFilter {
  /** As written by the user, named wildcards included: `$share/g/home/+room/#rest`. */
  readonly source: string;
  /** What the broker sees: `$share/g/home/+/#`. */
  readonly brokerFilter: string;
  /** What received topics are matched against: `home/+/#` (no share prefix). */
  readonly matchFilter: string;
  /** `matchFilter` split into levels. */
  readonly levels: readonly string[];
  readonly params: readonly TopicFilterParam[];
  /** The shared-subscription group, when the filter is `$share/<group>/...`. */
  readonly shareGroup: string | undefined;
  /** True when the match filter has no `+` or `#`. */
  readonly exact: boolean;
}

const SHARE_PREFIX = '$share/';
const PARAM_NAME = /^[A-Za-z_][A-Za-z0-9_]*$/;

/**
 * Parses and validates a topic filter (MQTT 3.1.1 §4.7, plus named wildcards).
 * `where` names the place for the error message: `filter` or `Class#method`.
 */
export function parseTopicFilter(filter: unknown, where = 'topic filter'): ParsedTopicFilter {
  if (typeof filter !== 'string') {
    throw new MqttTopicError(filter, where, 'a topic filter must be a string');
  }
  assertCharacters(filter, where);

  let shareGroup: string | undefined;
  let rest = filter;
  if (filter.startsWith(SHARE_PREFIX)) {
    const end = filter.indexOf('/', SHARE_PREFIX.length);
    shareGroup = end === -1 ? filter.slice(SHARE_PREFIX.length) : filter.slice(SHARE_PREFIX.length, end);
    assertFilterShareGroup(filter, shareGroup, where);
    if (end === -1 || end === filter.length - 1) {
      throw new MqttTopicError(filter, where, 'a shared subscription needs a filter after $share/<group>/');
    }
    rest = filter.slice(end + 1);
  }

  const sourceLevels = rest.split('/');
  if (sourceLevels.length > MQTT_MAX_TOPIC_LEVELS) {
    throw new MqttTopicError(filter, where, `too many levels (${sourceLevels.length}, at most ${MQTT_MAX_TOPIC_LEVELS})`);
  }
  const levels: string[] = [];
  const params: TopicFilterParam[] = [];
  for (let i = 0; i < sourceLevels.length; i++) {
    const level = sourceLevels[i];
    const first = level.charAt(0);
    if (first === '+' || first === '#') {
      const name = level.slice(1);
      if (first === '#' && i !== sourceLevels.length - 1) {
        throw new MqttTopicError(filter, where, "'#' must be the last level");
      }
      if (name !== '') {
        if (!PARAM_NAME.test(name)) {
          throw new MqttTopicError(
            filter,
            where,
            `'${first}' must occupy a whole level; '${level}' is neither '${first}' nor a named wildcard like '${first}name'`,
          );
        }
        if (params.some((p) => p.name === name)) {
          throw new MqttTopicError(filter, where, `the named wildcard '${name}' appears twice`);
        }
        params.push({ name, level: i, rest: first === '#' });
      }
      levels.push(first);
      continue;
    }
    if (level.includes('+')) {
      throw new MqttTopicError(filter, where, "'+' must occupy a whole level");
    }
    if (level.includes('#')) {
      throw new MqttTopicError(filter, where, "'#' must occupy a whole level and be the last one");
    }
    levels.push(level);
  }

  const matchFilter = levels.join('/');
  return {
    source: filter,
    brokerFilter: shareGroup === undefined ? matchFilter : `${SHARE_PREFIX}${shareGroup}/${matchFilter}`,
    matchFilter,
    levels,
    params,
    shareGroup,
    exact: !levels.some((l) => l === '+' || l === '#'),
  };
}

/**
 * Asserts that `topic` is a valid topic name to publish to: a non-empty string without
 * wildcards or forbidden characters, within the MQTT size limits. `where` names the argument.
 */
export function assertTopicName(topic: unknown, where = 'topic'): asserts topic is string {
  if (typeof topic !== 'string') {
    throw new MqttTopicError(topic, where, 'a topic must be a string');
  }
  if (topic.length === 0) {
    throw new MqttTopicError(topic, where, 'a topic must not be empty');
  }
  // Cheap scan first: most topics are plain ASCII without wildcards.
  for (let i = 0; i < topic.length; i++) {
    const c = topic.charCodeAt(i);
    if (c === 0x2b || c === 0x23) {
      throw new MqttTopicError(topic, where, `wildcards ('+', '#') are not allowed in a topic name (index ${i})`);
    }
    if (c < 0x20 || c > 0x7e) {
      assertCharacters(topic, where);
      break;
    }
  }
  if (topic.length > MQTT_MAX_TOPIC_BYTES / 3 && Buffer.byteLength(topic) > MQTT_MAX_TOPIC_BYTES) {
    throw new MqttTopicError(topic, where, `a topic must not exceed ${MQTT_MAX_TOPIC_BYTES} bytes`);
  }
  if (topic.length >= MQTT_MAX_TOPIC_LEVELS && topic.split('/').length > MQTT_MAX_TOPIC_LEVELS) {
    throw new MqttTopicError(topic, where, `too many levels (at most ${MQTT_MAX_TOPIC_LEVELS})`);
  }
}

/**
 * Builds a topic from literal levels and user-supplied segment values, refusing any segment that
 * would change the topic's shape: `/`, `+`, `#`, NUL or control characters, an empty value, or a
 * leading `$`. `topicFrom('devices', deviceId, 'cmd')`.
 */
export function topicFrom(...segments: ReadonlyArray<string | number>): string {
  if (segments.length === 0) {
    throw new MqttTopicError('', 'topic segment', 'at least one segment is needed');
  }
  return segments
    .map((segment, index) => {
      const value = typeof segment === 'number' ? String(segment) : segment;
      const where = `topic segment ${index}`;
      if (typeof value !== 'string' || value.length === 0) {
        throw new MqttTopicError(segment, where, 'a segment must be a non-empty string or a number');
      }
      if (/[/+#]/.test(value)) {
        throw new MqttTopicError(value, where, "a segment must not contain '/', '+' or '#'");
      }
      if (index === 0 && value.startsWith('$')) {
        throw new MqttTopicError(value, where, "the first segment must not start with '$'");
      }
      assertCharacters(value, where);
      return value;
    })
    .join('/');
}

/** Adds `$share/<group>/` to a broker filter unless it already is a shared subscription. */
export function toSharedFilter(parsed: ParsedTopicFilter, group: string | undefined, where: string): string {
  if (group === undefined || parsed.shareGroup !== undefined) {
    return parsed.brokerFilter;
  }
  assertFilterShareGroup(parsed.source, group, where);
  return `${SHARE_PREFIX}${group}/${parsed.brokerFilter}`;
}

function assertFilterShareGroup(filter: string, group: unknown, where: string): void {
  const problem = shareGroupProblem(group);
  if (problem) throw new MqttTopicError(filter, where, problem);
}

/**
 * The shared-subscription group rule, worded once for topic filters (`$share/<group>/...`), the
 * module's `share` option and `@OnTopic({ share })`: what is wrong with `group`, or undefined when it
 * is a valid group. A group is one non-empty topic level without wildcards or characters brokers refuse.
 */
export function shareGroupProblem(group: unknown): string | undefined {
  if (typeof group !== 'string') {
    return `the shared-subscription group must be a string, got ${group === null ? 'null' : typeof group}`;
  }
  if (group.length === 0) return 'the shared-subscription group must not be empty';
  if (/[/+#]/.test(group)) {
    return `the shared-subscription group '${group}' must not contain '/', '+' or '#' (it is one topic level, without wildcards)`;
  }
  const problem = characterProblem(group);
  return problem && `the shared-subscription group ${JSON.stringify(group)}: ${problem}`;
}

/**
 * Refuses what brokers reject as malformed UTF-8 (Mosquitto's utf8_mosq.c): empty strings, NUL and
 * other control characters, non-characters and unpaired surrogates. Such a value would make the
 * broker drop the connection, and mqtt.js would resend it on every reconnect.
 */
function assertCharacters(value: string, where: string): void {
  const problem = characterProblem(value);
  if (problem) throw new MqttTopicError(value, where, problem);
}

function characterProblem(value: string): string | undefined {
  if (value.length === 0) {
    return 'must not be empty';
  }
  for (let i = 0; i < value.length; i++) {
    const c = value.charCodeAt(i);
    if (c < 0x20 || (c >= 0x7f && c <= 0x9f)) {
      return `control character U+${hex(c)} at index ${i}`;
    }
    if (c >= 0xfdd0 && c <= 0xfdef) {
      return `non-character U+${hex(c)} at index ${i}`;
    }
    if (c >= 0xd800 && c <= 0xdbff) {
      const next = value.charCodeAt(i + 1);
      if (!(next >= 0xdc00 && next <= 0xdfff)) {
        return `unpaired surrogate at index ${i}`;
      }
      const cp = ((c - 0xd800) << 10) + (next - 0xdc00) + 0x10000;
      if ((cp & 0xfffe) === 0xfffe) {
        return `non-character U+${hex(cp)} at index ${i}`;
      }
      i++;
      continue;
    }
    if (c >= 0xdc00 && c <= 0xdfff) {
      return `unpaired surrogate at index ${i}`;
    }
    if (c === 0xfffe || c === 0xffff) {
      return `non-character U+${hex(c)} at index ${i}`;
    }
  }
  if (value.length > MQTT_MAX_TOPIC_BYTES / 3 && Buffer.byteLength(value) > MQTT_MAX_TOPIC_BYTES) {
    return `must not exceed ${MQTT_MAX_TOPIC_BYTES} bytes`;
  }
  return undefined;
}

function hex(code: number): string {
  return code.toString(16).toUpperCase().padStart(4, '0');
}

/** Extracts named wildcard values of `parsed` from a topic that matched it. */
export function extractTopicParams(parsed: ParsedTopicFilter, topic: string): Record<string, string> {
  const params: Record<string, string> = Object.create(null) as Record<string, string>;
  if (parsed.params.length === 0) {
    return params;
  }
  const levels = topic.split('/');
  for (const param of parsed.params) {
    params[param.name] = param.rest ? levels.slice(param.level).join('/') : (levels[param.level] ?? '');
  }
  return params;
}
