import { describe, expect, it } from '@jest/globals';
import { MqttTopicError } from './errors/mqtt-topic.error.js';
import { TopicRouter } from './topic-router.js';

function routerWith(filters: string[]): TopicRouter<string> {
  const router = new TopicRouter<string>();
  for (const filter of filters) router.add(filter, filter);
  return router;
}

describe('TopicRouter.match', () => {
  const cases: Array<[filters: string[], topic: string, expected: string[]]> = [
    [['a/b'], 'a/b', ['a/b']],
    [['a/b'], 'a/b/c', []],
    [['a/b'], 'a', []],
    [['a/+'], 'a/b', ['a/+']],
    [['a/+'], 'a/', ['a/+']], // '+' matches an empty level
    [['a/+'], 'a', []],
    [['a/+'], 'a/b/c', []],
    [['+/+'], '/a', ['+/+']],
    [['a/+/c'], 'a//c', ['a/+/c']],
    [['a/#'], 'a', ['a/#']], // '#' also matches the parent level
    [['a/#'], 'a/b/c/d', ['a/#']],
    [['a/#'], 'ab', []],
    [['#'], 'anything/at/all', ['#']],
    [['#'], '/', ['#']],
    [['+'], 'a', ['+']],
    [['+'], 'a/b', []],
    // $-topics never match a leading wildcard (MQTT 3.1.1 §4.7.2)
    [['#'], '$SYS/broker/uptime', []],
    [['+/broker/uptime'], '$SYS/broker/uptime', []],
    [['$SYS/#'], '$SYS/broker/uptime', ['$SYS/#']],
    [['$SYS/+/uptime'], '$SYS/broker/uptime', ['$SYS/+/uptime']],
    // shared prefixes: every matching filter, in no particular order
    [['home/+/temp', 'home/kitchen/temp', 'home/#', '+/kitchen/+', 'home/+/hum'], 'home/kitchen/temp', ['home/+/temp', 'home/kitchen/temp', 'home/#', '+/kitchen/+']],
    // $share/<group>/ is stripped for matching
    [['$share/g1/home/+/temp'], 'home/x/temp', ['$share/g1/home/+/temp']],
    [['$share/g1/#'], 'home/x', ['$share/g1/#']],
    // named wildcards match as their plain form
    [['home/+room/sensors/#rest'], 'home/hall/sensors/a/b', ['home/+room/sensors/#rest']],
    [['home/+room/sensors/#rest'], 'home/hall/sensors', ['home/+room/sensors/#rest']],
    [['home/+room/sensors/#rest'], 'home/hall/other', []],
  ];

  it.each(cases)('filters %j on %j -> %j', (filters, topic, expected) => {
    expect([...routerWith(filters).match(topic)].sort()).toEqual([...expected].sort());
  });

  it('returns a value registered under several matching filters once', () => {
    const router = new TopicRouter<string>();
    router.add('a/+', 'h');
    router.add('a/#', 'h');
    router.add('a/b', 'h');
    router.add('a/b', 'other');
    expect([...router.match('a/b')].sort()).toEqual(['h', 'other']);
  });

  it('treats the same value under the same filter as one registration', () => {
    const router = new TopicRouter<string>();
    router.add('a/+', 'h');
    router.add('a/+', 'h');
    expect(router.size).toBe(1);
    expect(router.match('a/x')).toEqual(['h']);
  });

  it('removes registrations and prunes empty branches', () => {
    const router = routerWith(['a/+/c', 'a/#', 'x/y']);
    expect(router.remove('a/+/c', 'a/+/c')).toBe(true);
    expect(router.remove('a/+/c', 'a/+/c')).toBe(false);
    expect(router.match('a/b/c')).toEqual(['a/#']);
    expect(router.remove('a/#', 'a/#')).toBe(true);
    expect(router.remove('x/y', 'x/y')).toBe(true);
    expect(router.match('a/b/c')).toEqual([]);
    expect(router.size).toBe(0);
  });

  it('keeps sibling levels apart from the first child on, through removals', () => {
    // A node holds its first literal child in fields and switches to a Map at the second.
    const router = routerWith(['s/1/+', 's/2/+', 's/3/+']);
    expect(router.match('s/1/x')).toEqual(['s/1/+']);
    expect(router.match('s/3/x')).toEqual(['s/3/+']);
    expect(router.remove('s/1/+', 's/1/+')).toBe(true);
    expect(router.match('s/1/x')).toEqual([]);
    expect(router.match('s/2/x')).toEqual(['s/2/+']);
    const single = routerWith(['only/+']);
    expect(single.remove('only/+', 'only/+')).toBe(true);
    expect(single.match('only/x')).toEqual([]);
    single.add('only/+', 'again');
    single.add('other/+', 'other');
    expect(single.match('only/x')).toEqual(['again']);
    expect(single.match('other/x')).toEqual(['other']);
  });

  it('keeps lookups independent of the number of unrelated filters', () => {
    const router = new TopicRouter<number>();
    for (let i = 0; i < 10_000; i++) router.add(`bench/${i}/+`, i);
    expect(router.match('bench/4242/data')).toEqual([4242]);
    expect(router.match('bench/10000/data')).toEqual([]);
  });

  it('refuses invalid filters with a typed error', () => {
    const router = new TopicRouter<string>();
    expect(() => router.add('a/#/b', 'x')).toThrow(MqttTopicError);
  });
});

describe('TopicRouter match cache', () => {
  it('forgets remembered results when filters change', () => {
    const router = new TopicRouter<string>();
    router.add('a/+', 'w');
    expect(router.match('a/b')).toEqual(['w']);
    router.add('a/b', 'e');
    expect([...router.match('a/b')].sort()).toEqual(['e', 'w']);
    router.remove('a/b', 'e');
    expect(router.match('a/b')).toEqual(['w']);
    router.add('a/b', 'e2');
    expect([...router.match('a/b')].sort()).toEqual(['e2', 'w']);
    router.remove('a/+', 'w');
    expect(router.match('a/b')).toEqual(['e2']);
  });

  it('stays correct past the cache size', () => {
    const router = new TopicRouter<number>();
    router.add('t/+', 1);
    for (let i = 0; i < 10_000; i++) expect(router.match(`t/${i}`)).toEqual([1]);
  });
});

describe('TopicRouter match cache memory', () => {
  // Two matching filters: an uncached lookup merges them into a new array, a cached one returns the same.
  const router = () => {
    const r = new TopicRouter<string>();
    r.add('in/#', 'all');
    r.add('in/+', 'one');
    return r;
  };

  it('never caches a topic longer than 1 KiB, so long topics cannot pin memory', () => {
    const r = router();
    const short = 'in/x';
    expect(r.match(short)).toBe(r.match(short));
    const long = `in/${'x'.repeat(2_000)}`;
    expect([...r.match(long)].sort()).toEqual(['all', 'one']);
    expect(r.match(long)).not.toBe(r.match(long));
  });

  it('caches at most 1 MiB of topic characters, forgetting older topics', () => {
    const r = router();
    const first = r.match('in/first');
    const topics = Array.from({ length: 1_100 }, (_, i) => `in/${String(i).padStart(4, '0')}${'y'.repeat(996)}`);
    for (const topic of topics) expect(r.match(topic)).toHaveLength(2);
    expect(r.match('in/first')).not.toBe(first);
    expect(r.match('in/first')).toEqual(first);
  });
});
