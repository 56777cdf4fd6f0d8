// Redaction works on decoded values: a credential echoed by an API in any common encoding never survives.
import { describe, expect, it } from 'vitest';
import { CallCredential } from '../../src/broker/types.js';
import { classifyApiFailure } from '../../src/downstream/classify.js';
import { redactSecretInText } from '../../src/downstream/redact.js';
import type { DownstreamResponse } from '../../src/downstream/send.js';

const TOKEN = 'canary-echo/token+0123456789abcdef.XYZ';
const uEscape = (s: string) => [...s].map((c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`).join('');
const entities = (s: string) => [...s].map((c) => `&#${c.charCodeAt(0)};`).join('');
const percent = (s: string) => [...s].map((c) => `%${c.charCodeAt(0).toString(16).padStart(2, '0')}`).join('');

/** Every way the token's bytes could be recovered from the output. */
function leaks(out: string): boolean {
  const decoded = out
    .replace(/\\u([0-9a-fA-F]{4})/g, (_, h) => String.fromCharCode(Number.parseInt(h, 16)))
    .replace(/\\\//g, '/')
    .replace(/%([0-9a-fA-F]{2})/g, (_, h) => String.fromCharCode(Number.parseInt(h, 16)))
    .replace(/&#([0-9]+);/g, (_, d) => String.fromCharCode(Number(d)));
  return out.includes(TOKEN) || decoded.includes(TOKEN);
}

const credential = new CallCredential(TOKEN, {
  id: 'cred-1',
  strategy: 'refresh',
  narrowed: true,
  scopes: [],
  grantId: 'grant-1',
  generation: 1,
  expiresAt: 0,
});

describe('redactSecretInText', () => {
  it.each([
    ['raw, in JSON', `{"echo":"${TOKEN}"}`],
    ['JSON \\u escapes', `{"echo":"${uEscape(TOKEN)}"}`],
    ['JSON \\/ escape (PHP default)', `{"echo":"${TOKEN.replaceAll('/', '\\/')}"}`],
    ['as a JSON key', `{"${uEscape(TOKEN)}":1}`],
    ['nested deep in JSON', `{"a":[{"b":{"c":["x","Bearer ${uEscape(TOKEN)}"]}}]}`],
    ['raw, in text', `you sent Bearer ${TOKEN} ok`],
    ['percent-encoded, in text', `callback?token=${encodeURIComponent(TOKEN)}`],
    ['fully percent-encoded, in text', `t=${percent(TOKEN)}`],
    ['HTML entities, in text', `<p>${entities(TOKEN)}</p>`],
    ['JSON escapes inside a text body', `debug: "${uEscape(TOKEN)}"`],
  ])('%s', (_name, body) => {
    const out = redactSecretInText(body, TOKEN);
    expect(leaks(out)).toBe(false);
    expect(out).toContain('[redacted]');
    // The call path's own redaction (what the tool-call pipeline applies to every response) is the same.
    expect(leaks(credential.redact(body))).toBe(false);
  });

  it('keeps a body without the secret byte for byte', () => {
    const body = '{ "a" : "\\u0041", "b": [1, 2.50] }';
    expect(redactSecretInText(body, TOKEN)).toBe(body);
    expect(redactSecretInText('plain 100% text', TOKEN)).toBe('plain 100% text');
  });

  it('cleans a JSON body nested 5,000 levels deep without overflowing the stack', () => {
    const body = `${'['.repeat(5000)}"${uEscape(TOKEN)}"${']'.repeat(5000)}`;
    const out = redactSecretInText(body, TOKEN);
    expect(leaks(out)).toBe(false);
  });
});

describe('classifyApiFailure: a challenge names only scopes the config knows', () => {
  const res = (challenge: string): DownstreamResponse => ({
    status: 403,
    headers: new Headers({ 'www-authenticate': challenge }),
    contentType: 'application/json',
    text: '{}',
  });
  const ctx = {
    provider: 'notes',
    grantedScopes: ['notes:read'],
    toolScopes: ['notes:write'],
    knownScopes: ['notes:read', 'notes:write', 'notes:delete'],
    nowMs: 0,
  };

  it('keeps known scopes and drops anything else, a planted token included', () => {
    const err = classifyApiFailure(
      res(`Bearer error="insufficient_scope", scope="notes:delete ${TOKEN} <script>"`),
      ctx,
    ).error;
    expect(err.toPayload()).toMatchObject({ scopes: ['notes:delete'], missingScopes: ['notes:delete'] });
    expect(JSON.stringify(err.toPayload())).not.toContain('canary');
  });

  it("falls back to the tool's scopes when the challenge names none that are known", () => {
    const err = classifyApiFailure(res(`Bearer error="insufficient_scope", scope="${TOKEN}"`), ctx).error;
    expect(err.toPayload()).toMatchObject({ scopes: ['notes:write'], missingScopes: ['notes:write'] });
  });
});
