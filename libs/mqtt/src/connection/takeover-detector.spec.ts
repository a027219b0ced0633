import { describe, expect, it } from '@jest/globals';
import { TakeoverDetector } from './takeover-detector.js';

describe('TakeoverDetector', () => {
  it('reports connections that keep dying right after they were accepted, once', () => {
    const reports: string[] = [];
    const detector = new TakeoverDetector((evidence) => reports.push(evidence));
    for (let i = 0; i < 6; i++) {
      detector.connected(i * 1_000);
      detector.disconnected(undefined, i * 1_000 + 900);
    }
    expect(reports).toHaveLength(1);
    expect(reports[0]).toMatch(/5 connections in a row/);
  });

  it('is reset by a failed attempt (a restarting broker) and by a long-lived connection', () => {
    const reports: string[] = [];
    const detector = new TakeoverDetector((evidence) => reports.push(evidence));
    for (let i = 0; i < 10; i++) {
      detector.connected(i * 1_000);
      detector.disconnected(undefined, i * 1_000 + 900);
      if (i % 3 === 2) detector.failed();
    }
    detector.connected(20_000);
    detector.disconnected(undefined, 60_000);
    expect(reports).toEqual([]);
  });

  it('reports an MQTT 5 "session taken over" at once', () => {
    const reports: string[] = [];
    const detector = new TakeoverDetector((evidence) => reports.push(evidence));
    detector.connected(0);
    detector.disconnected(0x8e, 60_000);
    expect(reports).toEqual(['the broker closed the connection with reason 0x8E (session taken over)']);
  });
});
