import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { protectedResourceMetadata, protectedResourceMetadataUrl } from '../../src/identity/metadata.js';
import { type FakeIssuer, startFakeIssuer } from './fakeIssuer.js';
import { identityFor, post, startApp, type TestApp } from './harness.js';

let issuer: FakeIssuer;
let app: TestApp;

beforeAll(async () => {
  issuer = await startFakeIssuer();
  app = await startApp(identityFor(issuer, { scopesSupported: ['mcp', 'notes:admin'] }));
});
afterAll(async () => {
  await app?.close();
  await issuer?.close();
});

describe('Protected Resource Metadata (RFC 9728)', () => {
  const expected = () => ({
    resource: `${app.url}/mcp`,
    authorization_servers: [issuer.issuer],
    scopes_supported: ['mcp', 'notes:admin'],
    bearer_methods_supported: ['header'],
    resource_name: 'Keyward',
  });

  it.each(['/.well-known/oauth-protected-resource/mcp', '/.well-known/oauth-protected-resource'])(
    'is served at %s, with CORS for browser clients',
    async (path) => {
      const res = await fetch(`${app.url}${path}`, { headers: { origin: 'https://inspector.example' } });
      expect(res.status).toBe(200);
      expect(res.headers.get('access-control-allow-origin')).toBe('*');
      expect(await res.json()).toEqual(expected());
    },
  );

  it("is where the 401's resource_metadata points", async () => {
    const { challenge } = await post(app, undefined);
    const url = /resource_metadata="([^"]+)"/.exec(challenge ?? '')?.[1];
    expect(url).toBe(`${app.url}/.well-known/oauth-protected-resource/mcp`);
    expect(await (await fetch(url as string)).json()).toEqual(expected());
  });

  it('answers only GET, and only at those two paths', async () => {
    expect((await fetch(`${app.url}/.well-known/oauth-protected-resource/mcp`, { method: 'POST' })).status).toBe(405);
    expect((await fetch(`${app.url}/.well-known/oauth-protected-resource/other`)).status).toBe(404);
  });
});

describe('the document and its URL', () => {
  const identity = { issuer: 'https://idp.example', requiredScopes: ['mcp'], scopesSupported: undefined };

  it('advertises the required scopes when no others are configured, and leaves out empty lists', () => {
    expect(protectedResourceMetadata(identity, { resource: 'https://gw.example/mcp' })).toEqual({
      resource: 'https://gw.example/mcp',
      authorization_servers: ['https://idp.example'],
      scopes_supported: ['mcp'],
      bearer_methods_supported: ['header'],
    });
    const none = protectedResourceMetadata({ ...identity, requiredScopes: [] }, { resource: 'https://gw.example/mcp' });
    expect(none).not.toHaveProperty('scopes_supported');
  });

  it('keeps the resource verbatim (the client sends it back as RFC 8707 resource)', () => {
    expect(protectedResourceMetadata(identity, { resource: 'https://gw.example' }).resource).toBe('https://gw.example');
  });

  it('is path-aware', () => {
    expect(protectedResourceMetadataUrl('https://gw.example/mcp')).toBe(
      'https://gw.example/.well-known/oauth-protected-resource/mcp',
    );
    expect(protectedResourceMetadataUrl('https://gw.example')).toBe(
      'https://gw.example/.well-known/oauth-protected-resource',
    );
  });
});
