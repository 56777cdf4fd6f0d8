// The provider hold on its own: what starts it, how long it lasts, and what it never does.
import { describe, expect, test } from 'vitest';
import { manualClock } from '../../src/clock.js';
import { createProviderBackoff } from '../../src/providers/backoff.js';
import { retryAfterSeconds } from '../../src/providers/tokenClient.js';
import { TokenEndpointError } from '../../src/providers/types.js';

const answered = (status: number, extra: { retryAfterSeconds?: number; oauthError?: string } = {}) =>
  new TokenEndpointError('p', status >= 500 || status === 429 ? 'transient' : 'rejected', { status, ...extra });

describe('provider backoff', () => {
  test('a Retry-After is held as given, capped, and never shortened by a later answer', () => {
    const clock = manualClock();
    const b = createProviderBackoff('p', clock);
    expect(b.failed(answered(503, { retryAfterSeconds: 30 })).retryAfterSeconds).toBe(30);
    expect(() => b.assertOpen('refresh request')).toThrow(
      expect.objectContaining({ oauthError: 'held_back', retryAfterSeconds: 30, delivery: 'not_sent' }),
    );
    b.failed(answered(503, { retryAfterSeconds: 5 }));
    expect(b.remainingSeconds()).toBe(30);
    clock.advance(30_000);
    expect(() => b.assertOpen('refresh request')).not.toThrow();
    // A day is read as a quarter of an hour: a typo upstream must not stop a provider for good.
    expect(b.failed(answered(429, { retryAfterSeconds: 86_400 })).retryAfterSeconds).toBe(900);
  });

  test('what is not a "wait" starts no hold', () => {
    const b = createProviderBackoff('p', manualClock());
    const cases = [
      new TokenEndpointError('p', 'dead', { status: 400, oauthError: 'invalid_grant' }),
      new TokenEndpointError('p', 'transient', { oauthError: 'timeout', delivery: 'unknown' }),
      new TokenEndpointError('p', 'transient', { oauthError: 'network_error', delivery: 'not_sent' }),
      new TokenEndpointError('p', 'transient', { status: 400, oauthError: 'slow_down' }),
    ];
    for (const err of cases) expect(b.failed(err)).toBe(err);
    expect(b.remainingSeconds()).toBe(0);
  });

  test('a Retry-After date is read on the injected clock', () => {
    const clock = manualClock(Date.UTC(2026, 10, 29, 12, 0, 0));
    const headers = new Headers({ 'retry-after': 'Sun, 29 Nov 2026 12:01:30 GMT' });
    expect(retryAfterSeconds(headers, clock.now())).toBe(90);
    expect(retryAfterSeconds(new Headers({ 'retry-after': '7' }), clock.now())).toBe(7);
    expect(retryAfterSeconds(new Headers({ 'retry-after': 'soon' }), clock.now())).toBeUndefined();
  });
});
