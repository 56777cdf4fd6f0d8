// An API's refusal, judged from the signals read off its answer.
import { describe, expect, it } from 'vitest';
import { type ApiRefusalSignals, judgeApiRefusal } from '../../src/policy/apiRefusal.js';

const plain: ApiRefusalSignals = { status: 403, scopeInsufficient: false, rateLimitMarker: false };
const ctx = {
  grantedScopes: ['repo:read'],
  toolScopes: ['repo:read', 'repo:write'],
  knownScopes: ['repo:read', 'repo:write', 'admin'],
};

describe('judgeApiRefusal', () => {
  it.each<{ case: string; signals: ApiRefusalSignals; want: unknown }>([
    {
      case: 'a challenge naming scopes: those not granted are missing',
      signals: { ...plain, scopeInsufficient: true, challengeScopes: ['repo:read', 'admin'] },
      want: { kind: 'insufficient_scope', scopes: ['repo:read', 'admin'], missing: ['admin'] },
    },
    {
      case: 'a challenged scope the config does not know is dropped (an API cannot smuggle text into the error)',
      signals: { ...plain, scopeInsufficient: true, challengeScopes: ['admin', 'canary-token-0123456789abcdef'] },
      want: { kind: 'insufficient_scope', scopes: ['admin'], missing: ['admin'] },
    },
    {
      case: 'a challenge naming only unknown scopes falls back to the tool scopes',
      signals: { ...plain, scopeInsufficient: true, challengeScopes: ['x-unknown'] },
      want: { kind: 'insufficient_scope', scopes: ['repo:read', 'repo:write'], missing: ['repo:write'] },
    },
    {
      case: 'a marker without scopes: the tool scopes are wanted',
      signals: { ...plain, scopeInsufficient: true },
      want: { kind: 'insufficient_scope', scopes: ['repo:read', 'repo:write'], missing: ['repo:write'] },
    },
    {
      case: 'the API wants what the credential already holds: ask for all of it again',
      signals: { ...plain, scopeInsufficient: true, challengeScopes: ['repo:read'] },
      want: { kind: 'insufficient_scope', scopes: ['repo:read'], missing: ['repo:read'] },
    },
    {
      case: 'a scope challenge on a status other than 403 is not a scope problem',
      signals: { ...plain, status: 400, scopeInsufficient: true },
      want: { kind: 'failed', status: 400 },
    },
    {
      case: 'a 403 with a rate-limit marker is a 429',
      signals: { ...plain, rateLimitMarker: true },
      want: { kind: 'rate_limited', status: 429 },
    },
    { case: 'a 429', signals: { ...plain, status: 429 }, want: { kind: 'rate_limited', status: 429 } },
    {
      case: 'a rate-limit marker on a 500 is a plain failure',
      signals: { ...plain, status: 500, rateLimitMarker: true },
      want: { kind: 'failed', status: 500 },
    },
    {
      case: 'scope beats rate limit on a 403 carrying both',
      signals: { ...plain, scopeInsufficient: true, rateLimitMarker: true },
      want: { kind: 'insufficient_scope', scopes: ['repo:read', 'repo:write'], missing: ['repo:write'] },
    },
    { case: 'a plain 403', signals: plain, want: { kind: 'failed', status: 403 } },
    { case: 'a 404', signals: { ...plain, status: 404 }, want: { kind: 'failed', status: 404 } },
  ])('$case', ({ signals, want }) => {
    expect(judgeApiRefusal(signals, ctx)).toEqual(want);
  });
});
