// Each preset's quirks, against loopback token endpoints that behave like that provider.
import { afterEach, describe, expect, test } from 'vitest';
import type { ResolvedProvider } from '../../src/config/types.js';
import { PRESETS } from '../../src/providers/presets/index.js';
import { createProviderRuntime } from '../../src/providers/runtime.js';
import { TokenEndpointError } from '../../src/providers/types.js';
import { type FakeHandler, form, json, startFakeServer } from './fakeServer.js';

const servers: Array<{ close(): Promise<void> }> = [];
afterEach(async () => {
  await Promise.all(servers.splice(0).map((s) => s.close()));
});

async function fake(handler: FakeHandler) {
  const s = await startFakeServer(handler);
  servers.push(s);
  return s;
}

function provider(over: Partial<ResolvedProvider>): ResolvedProvider {
  return {
    name: 'p',
    clientId: 'client-1',
    clientSecret: 'secret-1',
    scopes: [],
    strategy: 'refresh',
    apiBaseUrl: 'https://api.example.test',
    ...over,
  } as ResolvedProvider;
}

async function failure(p: Promise<unknown>): Promise<TokenEndpointError> {
  const err = await p.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(TokenEndpointError);
  return err as TokenEndpointError;
}

describe('github', () => {
  // GitHub answers form-encoded unless asked for JSON, and says bad_refresh_token with HTTP 200.
  const handler: FakeHandler = (req, res) => {
    const wantsJson = req.headers.accept?.includes('application/json');
    const rt = req.form.get('refresh_token');
    const body =
      rt === 'rt-good'
        ? { access_token: 'ghu_new', refresh_token: 'ghr_new', expires_in: '28800', token_type: 'bearer', scope: '' }
        : { error: 'bad_refresh_token', error_description: 'The refresh token passed is incorrect or expired.' };
    if (wantsJson) json(res, 200, body);
    else form(res, 200, body);
  };

  test('asks for JSON, sends the client in parameters, never a scope, and reads the rotated pair', async () => {
    const s = await fake(handler);
    const rt = createProviderRuntime(
      provider({
        preset: 'github',
        tokenEndpoint: `${s.url}/login/oauth/access_token`,
        authorizationEndpoint: `${s.url}/authorize`,
      }),
      PRESETS.github,
    );
    const plan = rt.narrowingFor(['issues:write']);
    expect(plan).toEqual({ mode: 'none', resource: undefined });
    const tokens = await rt.refresh('rt-good', plan);
    expect(tokens).toMatchObject({ accessToken: 'ghu_new', refreshToken: 'ghr_new', expiresIn: 28800 });
    expect(rt.narrowedBy(plan, tokens)).toBe(false);
    const seen = s.seen[0]!;
    expect(seen.headers.accept).toContain('application/json');
    expect(seen.form.get('client_id')).toBe('client-1');
    expect(seen.form.get('client_secret')).toBe('secret-1');
    expect(seen.form.has('scope')).toBe(false);
    expect(seen.headers.authorization).toBeUndefined();
  });

  test('bad_refresh_token with HTTP 200 is a dead refresh token', async () => {
    const s = await fake(handler);
    const rt = createProviderRuntime(
      provider({ preset: 'github', tokenEndpoint: s.url, authorizationEndpoint: s.url }),
      PRESETS.github,
    );
    const err = await failure(rt.refresh('rt-old'));
    expect(err).toMatchObject({ kind: 'dead', oauthError: 'bad_refresh_token', status: 200 });
    expect(err.message).not.toContain('rt-old');
    expect(err.message).toBe('refresh request to p failed (dead, bad_refresh_token, HTTP 200)');
  });

  test('a form-encoded answer (no Accept honoured) still parses', async () => {
    const s = await fake((req, res) => {
      const body =
        req.form.get('refresh_token') === 'rt-good'
          ? { access_token: 'ghu_form', refresh_token: 'ghr_form', expires_in: '28800' }
          : { error: 'bad_refresh_token' };
      form(res, 200, body);
    });
    const rt = createProviderRuntime(
      provider({ preset: 'github', tokenEndpoint: s.url, authorizationEndpoint: s.url }),
      PRESETS.github,
    );
    await expect(rt.refresh('rt-good')).resolves.toMatchObject({
      accessToken: 'ghu_form',
      refreshToken: 'ghr_form',
      expiresIn: 28800,
    });
    expect((await failure(rt.refresh('x'))).kind).toBe('dead');
  });

  test('revocation is DELETE /applications/{client_id}/grant with Basic auth', async () => {
    const s = await fake((req, res) => {
      res.statusCode = req.method === 'DELETE' && req.path === '/applications/client-1/grant' ? 204 : 404;
      res.end();
    });
    const rt = createProviderRuntime(
      provider({ preset: 'github', apiBaseUrl: s.url, tokenEndpoint: s.url, authorizationEndpoint: s.url }),
      PRESETS.github,
    );
    expect(await rt.canRevoke()).toBe(true);
    const out = await rt.revoke({ accessToken: 'ghu_x', refreshToken: 'ghr_x' });
    expect(out).toMatchObject({ supported: true, revoked: true });
    const seen = s.seen[0]!;
    expect(seen.headers.authorization).toBe(`Basic ${Buffer.from('client-1:secret-1').toString('base64')}`);
    expect(JSON.parse(seen.body)).toEqual({ access_token: 'ghu_x' });
  });
});

describe('slack', () => {
  const handler: FakeHandler = (req, res) => {
    if (req.path === '/api/auth.revoke') return json(res, 200, { ok: true, revoked: true });
    const rt = req.form.get('refresh_token');
    if (rt === 'xoxe-good') {
      return json(res, 200, {
        ok: true,
        access_token: 'xoxe.xoxp-new',
        refresh_token: 'xoxe-new',
        expires_in: 43200,
        token_type: 'user',
      });
    }
    if (rt === 'xoxe-bad-client') return json(res, 200, { ok: false, error: 'invalid_client_id' });
    return json(res, 200, { ok: false, error: 'invalid_refresh_token' });
  };

  test('ok:false invalid_refresh_token with HTTP 200 is dead; other ok:false errors are not', async () => {
    const s = await fake(handler);
    const rt = createProviderRuntime(
      provider({ preset: 'slack', tokenEndpoint: `${s.url}/api/oauth.v2.access`, authorizationEndpoint: s.url }),
      PRESETS.slack,
    );
    await expect(rt.refresh('xoxe-good')).resolves.toMatchObject({
      accessToken: 'xoxe.xoxp-new',
      refreshToken: 'xoxe-new',
    });
    expect(s.seen[0]!.headers.authorization).toMatch(/^Basic /);
    expect(s.seen[0]!.form.has('client_secret')).toBe(false);
    expect(await failure(rt.refresh('xoxe-dead'))).toMatchObject({
      kind: 'dead',
      oauthError: 'invalid_refresh_token',
      status: 200,
    });
    expect(await failure(rt.refresh('xoxe-bad-client'))).toMatchObject({
      kind: 'rejected',
      oauthError: 'invalid_client_id',
    });
  });

  test('auth.revoke is called with the token itself', async () => {
    const s = await fake(handler);
    const rt = createProviderRuntime(
      provider({ preset: 'slack', tokenEndpoint: `${s.url}/api/oauth.v2.access`, authorizationEndpoint: s.url }),
      PRESETS.slack,
    );
    await expect(rt.revoke({ accessToken: 'xoxp-1' })).resolves.toMatchObject({ revoked: true });
    expect(s.seen[0]).toMatchObject({ method: 'POST', path: '/api/auth.revoke' });
    expect(s.seen[0]!.headers.authorization).toBe('Bearer xoxp-1');
  });
});

describe('transient failures are never a verdict on the grant', () => {
  const cases: Array<[string, FakeHandler, string]> = [
    [
      '503 with Retry-After',
      (_r, res) => json(res, 503, { error: 'temporarily_unavailable' }, { 'retry-after': '7' }),
      'temporarily_unavailable',
    ],
    [
      '500 without a body',
      (_r, res) => {
        res.statusCode = 500;
        res.end();
      },
      'malformed_response',
    ],
    [
      'an HTML page with 200',
      (_r, res) => {
        res.writeHead(200, { 'content-type': 'text/html' });
        res.end('<html>oops</html>');
      },
      'malformed_response',
    ],
    ['200 without access_token', (_r, res) => json(res, 200, { token_type: 'bearer' }), 'malformed_response'],
  ];
  for (const [name, handler, code] of cases) {
    test(name, async () => {
      const s = await fake(handler);
      const rt = createProviderRuntime(provider({ tokenEndpoint: s.url, authorizationEndpoint: s.url }), undefined);
      const err = await failure(rt.refresh('rt'));
      expect(err.kind).toBe('transient');
      if (code !== 'malformed_response') expect(err.oauthError).toBe(code);
      if (name.includes('Retry-After')) expect(err.retryAfterSeconds).toBe(7);
    });
  }

  test('a 5xx or 429 is transient even when its body names a dead-token code', async () => {
    const answers: Array<[number, string]> = [
      [503, 'bad_refresh_token'],
      [429, 'bad_refresh_token'],
      [502, 'invalid_grant'],
      [500, 'invalid_refresh_token'],
    ];
    let i = 0;
    const s = await fake((_req, res) => {
      const [status, error] = answers[i++]!;
      json(res, status, status === 500 ? { ok: false, error } : { error });
    });
    const runtime = (preset: 'github' | 'atlassian' | 'slack') =>
      createProviderRuntime(provider({ preset, tokenEndpoint: s.url, authorizationEndpoint: s.url }), PRESETS[preset]);
    expect((await failure(runtime('github').refresh('rt'))).kind).toBe('transient');
    expect((await failure(runtime('github').refresh('rt'))).kind).toBe('transient');
    expect((await failure(runtime('atlassian').refresh('rt'))).kind).toBe('transient');
    expect((await failure(runtime('slack').refresh('rt'))).kind).toBe('transient');
  });

  test('a timeout', async () => {
    const s = await fake(() => new Promise(() => {}));
    const rt = createProviderRuntime(provider({ tokenEndpoint: s.url, authorizationEndpoint: s.url }), undefined, {
      timeoutMs: 100,
    });
    expect(await failure(rt.refresh('rt'))).toMatchObject({ kind: 'transient', oauthError: 'timeout' });
  });

  test('a refused connection', async () => {
    const s = await fake(() => {});
    await s.close();
    const rt = createProviderRuntime(provider({ tokenEndpoint: s.url, authorizationEndpoint: s.url }), undefined);
    expect(await failure(rt.refresh('rt'))).toMatchObject({ kind: 'transient', oauthError: 'network_error' });
  });

  test('invalid_grant is dead, invalid_scope is its own kind, invalid_client is rejected', async () => {
    const s = await fake((req, res) => json(res, 400, { error: req.form.get('refresh_token') }));
    const rt = createProviderRuntime(provider({ tokenEndpoint: s.url, authorizationEndpoint: s.url }), undefined);
    expect((await failure(rt.refresh('invalid_grant'))).kind).toBe('dead');
    expect((await failure(rt.refresh('invalid_scope'))).kind).toBe('invalid_scope');
    expect((await failure(rt.refresh('invalid_client'))).kind).toBe('rejected');
    // RFC 6749 s.2.3.1: Basic by default for a provider without a preset.
    expect(s.seen[0]!.headers.authorization).toMatch(/^Basic /);
  });
});

describe('narrowing and authorize parameters', () => {
  test('google asks for offline access and counts narrowing only when the response shows it', async () => {
    const s = await fake((req, res) =>
      json(res, 200, {
        access_token: 'ya29',
        expires_in: 3599,
        ...(req.form.get('refresh_token') === 'with-scope' ? { scope: req.form.get('scope') } : {}),
      }),
    );
    const rt = createProviderRuntime(
      provider({ preset: 'google', tokenEndpoint: s.url, authorizationEndpoint: `${s.url}/auth` }),
      PRESETS.google,
    );
    const plan = rt.narrowingFor(['https://www.googleapis.com/auth/calendar.readonly']);
    expect(rt.narrowedBy(plan, await rt.refresh('without-scope', plan))).toBe(false);
    expect(rt.narrowedBy(plan, await rt.refresh('with-scope', plan))).toBe(true);
    expect(s.seen[0]!.form.get('scope')).toBe('https://www.googleapis.com/auth/calendar.readonly');
    expect(s.seen[0]!.form.has('resource')).toBe(false);
    const url = await rt.authorizationUrl({
      redirectUri: 'http://127.0.0.1/cb',
      state: 's',
      codeChallenge: 'c',
      scopes: ['openid'],
    });
    expect(Object.fromEntries(url.searchParams)).toMatchObject({
      access_type: 'offline',
      prompt: 'consent',
      include_granted_scopes: 'true',
      code_challenge_method: 'S256',
    });
  });

  test('microsoft: per tenant, offline_access, and one resource per request', async () => {
    const rt = createProviderRuntime(provider({ preset: 'microsoft', tenant: 'contoso.example' }), PRESETS.microsoft);
    const ep = await rt.endpoints();
    expect(ep.tokenEndpoint).toBe('https://login.microsoftonline.com/contoso.example/oauth2/v2.0/token');
    expect(rt.authorizationScopes(['https://graph.microsoft.com/Mail.Read'])).toContain('offline_access');
    expect(rt.narrowingFor(['https://graph.microsoft.com/Mail.Read', 'offline_access']).scope).toHaveLength(2);
    expect(() =>
      rt.narrowingFor(['https://graph.microsoft.com/Mail.Read', 'https://api.example.test/Notes.Read']),
    ).toThrow(TokenEndpointError);
    expect(await rt.canRevoke()).toBe(false);
    expect(await rt.revoke({ refreshToken: 'x' })).toMatchObject({ supported: false, revoked: false });
  });

  test('linear joins scopes with commas; atlassian asks for the audience and consent', async () => {
    const lin = createProviderRuntime(provider({ preset: 'linear' }), PRESETS.linear);
    const u1 = await lin.authorizationUrl({
      redirectUri: 'http://127.0.0.1/cb',
      state: 's',
      scopes: ['read', 'write'],
    });
    expect(u1.searchParams.get('scope')).toBe('read,write');
    expect(lin.narrowingFor(['read']).mode).toBe('none');
    const atl = createProviderRuntime(provider({ preset: 'atlassian' }), PRESETS.atlassian);
    const u2 = await atl.authorizationUrl({
      redirectUri: 'http://127.0.0.1/cb',
      state: 's',
      scopes: ['read:jira-work'],
    });
    expect(Object.fromEntries(u2.searchParams)).toMatchObject({
      audience: 'api.atlassian.com',
      prompt: 'consent',
      scope: 'read:jira-work offline_access',
    });
  });

  test('a provider without a preset sends the narrowed scope and the resource indicator', async () => {
    const s = await fake((_req, res) => json(res, 200, { access_token: 'at', expires_in: 60 }));
    const rt = createProviderRuntime(
      provider({ tokenEndpoint: s.url, authorizationEndpoint: s.url, resource: 'https://api.example.test/' }),
      undefined,
    );
    const plan = rt.narrowingFor(['notes:read']);
    expect(rt.narrowedBy(plan, await rt.refresh('rt', plan))).toBe(true);
    expect(Object.fromEntries(s.seen[0]!.form)).toMatchObject({
      scope: 'notes:read',
      resource: 'https://api.example.test/',
    });
  });
});

describe('discovery', () => {
  test('an http loopback issuer is discovered once, lazily, and its endpoints used', async () => {
    let metadataRequests = 0;
    const s = await fake((req, res) => {
      if (req.path === '/.well-known/openid-configuration') {
        metadataRequests++;
        return json(res, 200, {
          issuer: s.url,
          authorization_endpoint: `${s.url}/auth`,
          token_endpoint: `${s.url}/token`,
          revocation_endpoint: `${s.url}/revoke`,
          scopes_supported: ['openid', 'offline_access', 'notes:read'],
          response_types_supported: ['code'],
        });
      }
      if (req.path === '/token') return json(res, 200, { access_token: 'at', refresh_token: 'rt2' });
      if (req.path === '/revoke') return json(res, 200, {});
      json(res, 404, {});
    });
    const rt = createProviderRuntime(provider({ issuer: s.url }), undefined);
    expect(metadataRequests).toBe(0);
    await Promise.all([rt.refresh('a'), rt.refresh('b')]);
    await rt.refresh('c');
    expect(metadataRequests).toBe(1);
    expect(await rt.canRevoke()).toBe(true);
    await expect(rt.revoke({ refreshToken: 'rt2' })).resolves.toMatchObject({ revoked: true });
    expect(s.seen.at(-1)!.form.get('token_type_hint')).toBe('refresh_token');
    const url = await rt.authorizationUrl({ redirectUri: 'http://127.0.0.1/cb', state: 's', scopes: ['notes:read'] });
    expect(url.searchParams.get('scope')).toBe('notes:read offline_access');
    expect(url.searchParams.get('prompt')).toBe('consent');
  });

  test('a failed discovery is provider-transient and not cached', async () => {
    let up = false;
    const s = await fake((req, res) => {
      if (!up) return json(res, 503, {});
      if (req.path.startsWith('/.well-known/')) {
        return json(res, 200, { issuer: s.url, token_endpoint: `${s.url}/token`, response_types_supported: ['code'] });
      }
      json(res, 200, { access_token: 'at' });
    });
    const rt = createProviderRuntime(provider({ issuer: s.url }), undefined);
    expect(await failure(rt.refresh('a'))).toMatchObject({ kind: 'transient', oauthError: 'discovery_failed' });
    up = true;
    await expect(rt.refresh('a')).resolves.toMatchObject({ accessToken: 'at' });
  });
});
