import { describe, expect, it } from '@jest/globals';
import { MqttTopicError } from '../errors/mqtt-topic.error.js';
import { assertTopicName, extractTopicParams, parseTopicFilter, toSharedFilter, topicFrom } from './topic-filter.js';

describe('parseTopicFilter', () => {
  it('turns named wildcards into plain ones for the broker and records their positions', () => {
    const parsed = parseTopicFilter('home/+room/sensors/#rest');
    expect(parsed.brokerFilter).toBe('home/+/sensors/#');
    expect(parsed.matchFilter).toBe('home/+/sensors/#');
    expect(parsed.params).toEqual([
      { name: 'room', level: 1, rest: false },
      { name: 'rest', level: 3, rest: true },
    ]);
    expect(parsed.exact).toBe(false);
    expect(extractTopicParams(parsed, 'home/hall/sensors/a/b')).toEqual({ room: 'hall', rest: 'a/b' });
  });

  it('strips $share/<group>/ for matching and keeps it for the broker', () => {
    const parsed = parseTopicFilter('$share/workers/jobs/+id');
    expect(parsed.shareGroup).toBe('workers');
    expect(parsed.brokerFilter).toBe('$share/workers/jobs/+');
    expect(parsed.matchFilter).toBe('jobs/+');
  });

  it('adds a share group unless the filter has one', () => {
    expect(toSharedFilter(parseTopicFilter('a/+'), 'g', 'x')).toBe('$share/g/a/+');
    expect(toSharedFilter(parseTopicFilter('$share/h/a/+'), 'g', 'x')).toBe('$share/h/a/+');
    expect(toSharedFilter(parseTopicFilter('a/+'), undefined, 'x')).toBe('a/+');
  });

  const invalid: Array<[filter: unknown, reason: RegExp]> = [
    ['', /must not be empty/],
    ['a/#/b', /'#' must be the last level/],
    ['a/b#', /'#' must occupy a whole level/],
    ['a/b+', /'\+' must occupy a whole level/],
    ['sport+', /'\+' must occupy a whole level/],
    ['a/+1x/b', /named wildcard/],
    ['a/+x/+x', /appears twice/],
    ['a/\u0000', /control character U\+0000/],
    ['a/\nb', /control character U\+000A/],
    ['a/\u0085', /control character U\+0085/],
    ['a/\uFDD0', /non-character/],
    ['a/\uD800', /unpaired surrogate/],
    ['$share/g+/t', /must not contain/],
    ['$share//t', /must not be empty/],
    ['$share/g', /needs a filter/],
    ['$share/g/', /needs a filter/],
    [Array.from({ length: 201 }, () => 'x').join('/'), /too many levels/],
    [42, /must be a string/],
    [undefined, /must be a string/],
  ];

  it.each(invalid)('refuses %j', (filter, reason) => {
    let caught: unknown;
    try {
      parseTopicFilter(filter, 'Sensors#onTemp');
    } catch (error) {
      caught = error;
    }
    expect(caught).toBeInstanceOf(MqttTopicError);
    expect((caught as MqttTopicError).message).toMatch(reason);
    expect((caught as MqttTopicError).message).toContain('Sensors#onTemp');
  });
});

describe('assertTopicName', () => {
  it.each(['a', 'a/b/c', '/leading', 'trailing/', 'a//b', '$SYS/x', 'unicode/ünïcødé/✓'])('accepts %j', (topic) => {
    expect(() => assertTopicName(topic)).not.toThrow();
  });

  const invalid: Array<[topic: unknown, reason: RegExp]> = [
    ['', /must not be empty/],
    ['a/+/b', /wildcards/],
    ['a/#', /wildcards/],
    ['a\u0000b', /control character/],
    ['a/\u001f', /control character/],
    [null, /must be a string/],
    [17, /must be a string/],
    ['x'.repeat(65_536), /65535 bytes/],
    [Array.from({ length: 201 }, () => 'x').join('/'), /too many levels/],
  ];
  it.each(invalid)('refuses %j', (topic, reason) => {
    expect(() => assertTopicName(topic, 'topic')).toThrow(MqttTopicError);
    expect(() => assertTopicName(topic, 'topic')).toThrow(reason);
  });
});

describe('topicFrom', () => {
  it('joins safe segments', () => {
    expect(topicFrom('devices', 'abc-1', 7, 'cmd')).toBe('devices/abc-1/7/cmd');
  });
  it.each([['a/b'], ['+'], ['#'], ['x\u0000'], [''], ['\n']])('refuses the segment %j', (bad) => {
    expect(() => topicFrom('devices', bad, 'cmd')).toThrow(MqttTopicError);
  });
  it('refuses a leading $ that would reach $SYS or $share', () => {
    expect(() => topicFrom('$SYS', 'x')).toThrow(/must not start with '\$'/);
  });
});
