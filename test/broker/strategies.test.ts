// The broker's small parts: single-flight, the per-key queue, bounded retry, and the shared credential cache.
import { describe, expect, test } from 'vitest';
import { createCredentialCache } from '../../src/broker/credentialCache.js';
import { createGrantCipher, encryptionKeyFrom, generateEncryptionKey } from '../../src/broker/crypto.js';
import { parseDuration } from '../../src/broker/grants.js';
import { createSingleFlight } from '../../src/broker/singleFlight.js';
import { createGrantStore, grantKey } from '../../src/broker/store.js';
import { DEFAULT_RETRY, retryTransient } from '../../src/broker/strategies/retry.js';
import { CallCredential, type Grant } from '../../src/broker/types.js';
import { manualClock } from '../../src/clock.js';
import { createLogger } from '../../src/log.js';
import { assertGrantServes } from '../../src/policy/grantCoverage.js';
import { TokenEndpointError } from '../../src/providers/types.js';

describe('single-flight', () => {
  test('concurrent callers share one run; a run after it settles starts afresh', async () => {
    const sf = createSingleFlight();
    let runs = 0;
    let joins = 0;
    let release!: () => void;
    const gate = new Promise<void>((r) => {
      release = r;
    });
    const work = async () => {
      runs++;
      await gate;
      return runs;
    };
    const all = Array.from({ length: 50 }, () => sf.run('k', work, () => joins++));
    release();
    expect(new Set(await Promise.all(all))).toEqual(new Set([1]));
    expect(joins).toBe(49);
    expect(sf.size).toBe(0);
    await sf.run('k', work);
    expect(runs).toBe(2);
  });

  test('a rejected run is shared and then cleared', async () => {
    const sf = createSingleFlight();
    const a = sf.run('k', async () => {
      throw new Error('boom');
    });
    const b = sf.run('k', async () => 'never');
    await expect(a).rejects.toThrow('boom');
    await expect(b).rejects.toThrow('boom');
    await expect(sf.run('k', async () => 'ok')).resolves.toBe('ok');
  });
});

describe('bounded retry', () => {
  const refused = () => new TokenEndpointError('p', 'transient', { oauthError: 'network_error', delivery: 'not_sent' });
  const policy = { ...DEFAULT_RETRY, baseDelayMs: 1_000, maxDelayMs: 4_000 };

  test('retries a request that never left, up to the attempt limit, on the injected clock', async () => {
    const clock = manualClock();
    const t0 = clock.now();
    const wall = Date.now();
    let n = 0;
    await expect(
      retryTransient(
        async () => {
          n++;
          throw refused();
        },
        policy,
        { clock, random: () => 1 },
      ),
    ).rejects.toMatchObject({ kind: 'transient', delivery: 'not_sent' });
    expect(n).toBe(3);
    // 1 s then 2 s of backoff, all of it on the test's clock and none on the wall clock.
    expect(clock.now() - t0).toBe(3_000);
    expect(Date.now() - wall).toBeLessThan(500);
  });

  test('never sends again what may have been processed, what the provider answered, or a dead token', async () => {
    const once = [
      new TokenEndpointError('p', 'transient', { oauthError: 'timeout', delivery: 'unknown' }),
      new TokenEndpointError('p', 'transient', { oauthError: 'connection_lost', delivery: 'unknown' }),
      new TokenEndpointError('p', 'transient', { oauthError: 'malformed_response', status: 200, delivery: 'unknown' }),
      new TokenEndpointError('p', 'transient', { status: 503 }),
      new TokenEndpointError('p', 'transient', {
        oauthError: 'held_back',
        retryAfterSeconds: 30,
        delivery: 'not_sent',
      }),
      new TokenEndpointError('p', 'dead', { oauthError: 'invalid_grant', status: 400 }),
      // No delivery and no status: assumed possibly sent, never "not sent".
      new TokenEndpointError('p', 'transient', {}),
    ];
    for (const failure of once) {
      let n = 0;
      await expect(
        retryTransient(
          async () => {
            n++;
            throw failure;
          },
          policy,
          { clock: manualClock() },
        ),
      ).rejects.toBe(failure);
      expect(n, failure.message).toBe(1);
    }
    expect(once.filter((e) => e.maybeProcessed)).toHaveLength(4);
  });

  test('succeeds when the provider comes back', async () => {
    let m = 0;
    await expect(
      retryTransient(
        async () => {
          if (++m < 3) throw refused();
          return 'ok';
        },
        policy,
        { clock: manualClock() },
      ),
    ).resolves.toBe('ok');
  });

  test('stops at the deadline', async () => {
    const clock = manualClock();
    const t0 = clock.now();
    let n = 0;
    await expect(
      retryTransient(
        async () => {
          n++;
          throw refused();
        },
        { ...policy, attempts: 100, baseDelayMs: 40, maxDelayMs: 40, budgetMs: 100 },
        { clock },
      ),
    ).rejects.toBeDefined();
    // Delays of 20-40 ms (jitter) within a 100 ms budget: a handful of attempts, not 100.
    expect(n).toBeLessThanOrEqual(6);
    expect(clock.now() - t0).toBeLessThan(100);
  });

  test('stops waiting when the call is aborted', async () => {
    const ac = new AbortController();
    let n = 0;
    const p = retryTransient(
      async () => {
        n++;
        throw refused();
      },
      { ...policy, baseDelayMs: 60_000, maxDelayMs: 60_000, budgetMs: 600_000 },
      { signal: ac.signal },
    );
    setTimeout(() => ac.abort(), 20);
    const started = Date.now();
    await expect(p).rejects.toMatchObject({ delivery: 'not_sent' });
    expect(n).toBe(1);
    expect(Date.now() - started).toBeLessThan(2_000);
  });
});

describe('grants', () => {
  const grant: Grant = {
    id: 'g1',
    user: 'u',
    provider: 'p',
    scopes: ['a', 'b'],
    consentedAt: 1000,
    generation: 1,
    client: 'c',
    status: 'active',
    updatedAt: 1000,
  };
  test('the checks, in order', () => {
    expect(() => assertGrantServes(undefined, 'p', ['a'], 0)).toThrow(
      expect.objectContaining({ details: expect.objectContaining({ reason: 'no_grant' }) }),
    );
    expect(() => assertGrantServes({ ...grant, status: 'revoked' }, 'p', ['a'], 0)).toThrow(
      expect.objectContaining({ details: expect.objectContaining({ reason: 'revoked' }) }),
    );
    expect(() =>
      assertGrantServes({ ...grant, status: 'needs_reauth', reason: 'invalid_grant' }, 'p', ['a'], 0),
    ).toThrow(expect.objectContaining({ details: expect.objectContaining({ reason: 'invalid_grant' }) }));
    expect(() => assertGrantServes({ ...grant, consentExpiresAt: 5 }, 'p', ['a'], 5)).toThrow(
      expect.objectContaining({ details: expect.objectContaining({ reason: 'consent_expired' }) }),
    );
    expect(() => assertGrantServes(grant, 'p', ['a', 'z'], 0)).toThrow(
      expect.objectContaining({
        code: 'insufficient_scope',
        details: expect.objectContaining({ missingScopes: ['z'] }),
      }),
    );
    expect(assertGrantServes(grant, 'p', ['b'], 0)).toBe(grant);
  });
  test('durations and lock keys', () => {
    expect(parseDuration('8h')).toBe(8 * 3600_000);
    expect(parseDuration('30d')).toBe(30 * 86_400_000);
    expect(() => parseDuration('3 days')).toThrow();
    expect(grantKey('a:b', 'p')).not.toBe(grantKey('a', 'b:p'));
  });
});

describe('credential cache', () => {
  test('shared through the store, encrypted; memory-only copies stay private; drop only removes the rejected one', async () => {
    const store = await createGrantStore('memory:');
    const cipher = createGrantCipher({ current: encryptionKeyFrom(generateEncryptionKey()) });
    let now = 1_000_000;
    const mk = () =>
      createCredentialCache({
        store,
        cipher,
        clock: { now: () => now },
        logger: createLogger({ level: 'silent' }),
        skewMs: 30_000,
        shared: true,
      });
    const a = mk();
    const b = mk();
    const grant = {
      id: 'g',
      user: 'u',
      provider: 'p',
      consentedAt: 1,
      generation: 1,
      scopes: [],
      client: 'c',
      status: 'active',
      updatedAt: 1,
    } as Grant;
    const key = a.keyFor(grant, 'refresh', ['y', 'x'], 'aud');
    expect(b.keyFor(grant, 'refresh', ['x', 'y'], 'aud')).toBe(key);
    expect(a.keyFor({ ...grant, consentedAt: 2 }, 'refresh', ['x', 'y'], 'aud')).not.toBe(key);
    const token = 'narrowed-access-token-value-0123456789';
    const meta = {
      id: 'c1',
      strategy: 'refresh' as const,
      narrowed: true,
      scopes: ['x', 'y'],
      grantId: 'g',
      generation: 2,
      expiresAt: now + 60_000,
    };
    await a.set(key, grant, { token, meta });
    expect(JSON.stringify(await store.getRecord(key))).not.toContain(token);
    expect(await b.get(key, grant)).toMatchObject({ source: 'store', cred: { token } });
    expect(await a.get(key, grant)).toMatchObject({ source: 'memory' });
    await b.drop(key, 'other');
    expect(await store.getRecord(key)).toBeDefined();
    await b.drop(key, 'c1');
    expect(await store.getRecord(key)).toBeUndefined();
    now += 31_000;
    expect(await a.get(key, grant)).toBeUndefined();
    await store.close();
  });

  test('a CallCredential never serializes its token', () => {
    const c = new CallCredential('secret-token-value-abcdefghijkl', {
      id: 'sha256:x',
      strategy: 'refresh',
      narrowed: true,
      scopes: ['a'],
      grantId: 'g',
      generation: 1,
      expiresAt: 1,
    });
    expect(JSON.stringify({ c })).not.toContain('secret-token-value');
    expect(c.authorizationHeader()).toBe('Bearer secret-token-value-abcdefghijkl');
  });
});
