// Grant coverage: every state a stored grant can be in, and what the agent is told for each.
import { describe, expect, it } from 'vitest';
import { InsufficientScopeError, ReauthRequiredError } from '../../src/errors.js';
import { assertGrantServes, type GrantView, judgeGrant } from '../../src/policy/grantCoverage.js';

const active: GrantView = { status: 'active', scopes: ['notes:read', 'notes:write'] };
const NOW = 1_000_000;

describe('judgeGrant', () => {
  it.each<{ case: string; grant: GrantView | undefined; scopes: string[]; want: unknown }>([
    { case: 'covered', grant: active, scopes: ['notes:read'], want: { serves: true } },
    { case: 'a tool needing no scope', grant: active, scopes: [], want: { serves: true } },
    {
      case: 'no grant',
      grant: undefined,
      scopes: ['notes:read'],
      want: { serves: false, code: 'reauth_required', state: 'no_grant', reason: 'no_grant' },
    },
    {
      case: 'revoked',
      grant: { ...active, status: 'revoked' },
      scopes: ['notes:read'],
      want: { serves: false, code: 'reauth_required', state: 'revoked', reason: 'revoked' },
    },
    {
      case: 'needs reauth after invalid_grant',
      grant: { ...active, status: 'needs_reauth', reason: 'invalid_grant' },
      scopes: ['notes:read'],
      want: {
        serves: false,
        code: 'reauth_required',
        state: 'needs_reauth',
        reason: 'invalid_grant',
        internal: 'invalid_grant',
      },
    },
    {
      case: 'needs reauth for a reason the agent is not told',
      grant: { ...active, status: 'needs_reauth', reason: 'refresh_interrupted' },
      scopes: ['notes:read'],
      want: {
        serves: false,
        code: 'reauth_required',
        state: 'needs_reauth',
        reason: 'needs_reauth',
        internal: 'refresh_interrupted',
      },
    },
    {
      case: 'consent expired, at the instant',
      grant: { ...active, consentExpiresAt: NOW },
      scopes: ['notes:read'],
      want: { serves: false, code: 'reauth_required', state: 'consent_expired', reason: 'consent_expired' },
    },
    {
      case: 'consent not yet expired',
      grant: { ...active, consentExpiresAt: NOW + 1 },
      scopes: ['notes:read'],
      want: { serves: true },
    },
    {
      case: 'scopes missing',
      grant: active,
      scopes: ['notes:read', 'notes:admin', 'notes:share'],
      want: { serves: false, code: 'insufficient_scope', missing: ['notes:admin', 'notes:share'] },
    },
    {
      // A dead grant is reauth, not a scope problem: consent again covers both.
      case: 'revoked and lacking scopes: reauth wins',
      grant: { ...active, status: 'revoked' },
      scopes: ['notes:admin'],
      want: { serves: false, code: 'reauth_required', state: 'revoked', reason: 'revoked' },
    },
  ])('$case', ({ grant, scopes, want }) => {
    expect(judgeGrant(grant, scopes, NOW)).toEqual(want);
  });
});

describe('assertGrantServes', () => {
  it('returns the very grant it was given when it serves', () => {
    const grant = { ...active, id: 'g1' };
    expect(assertGrantServes(grant, 'notes', ['notes:read'], NOW)).toBe(grant);
  });

  it.each<{ grant: GrantView | undefined; scopes: string[]; cls: unknown; payload: Record<string, unknown> }>([
    {
      grant: undefined,
      scopes: ['notes:read'],
      cls: ReauthRequiredError,
      payload: {
        code: 'reauth_required',
        message: 'No notes access has been granted for this user yet.',
        provider: 'notes',
        scopes: ['notes:read'],
        reason: 'no_grant',
        retryable: false,
      },
    },
    {
      grant: { ...active, status: 'revoked' },
      scopes: ['notes:read'],
      cls: ReauthRequiredError,
      payload: {
        code: 'reauth_required',
        message: 'The notes grant was revoked; access must be granted again.',
        provider: 'notes',
        scopes: ['notes:read'],
        reason: 'revoked',
        retryable: false,
      },
    },
    {
      grant: { ...active, status: 'needs_reauth', reason: 'revoked' },
      scopes: ['notes:read'],
      cls: ReauthRequiredError,
      payload: {
        code: 'reauth_required',
        message: 'The notes grant is no longer valid; access must be granted again.',
        provider: 'notes',
        scopes: ['notes:read'],
        reason: 'revoked',
        retryable: false,
      },
    },
    {
      grant: { ...active, consentExpiresAt: 5 },
      scopes: ['notes:read'],
      cls: ReauthRequiredError,
      payload: {
        code: 'reauth_required',
        message: "The user's consent for notes has expired; it must be given again.",
        provider: 'notes',
        scopes: ['notes:read'],
        reason: 'consent_expired',
        retryable: false,
      },
    },
    {
      grant: active,
      scopes: ['notes:read', 'notes:admin'],
      cls: InsufficientScopeError,
      payload: {
        code: 'insufficient_scope',
        message: "The notes grant does not cover this tool's scopes.",
        provider: 'notes',
        scopes: ['notes:read', 'notes:admin'],
        missingScopes: ['notes:admin'],
        retryable: false,
      },
    },
  ])('throws $payload.code ($payload.message)', ({ grant, scopes, cls, payload }) => {
    let thrown: unknown;
    try {
      assertGrantServes(grant, 'notes', scopes, NOW);
    } catch (err) {
      thrown = err;
    }
    expect(thrown).toBeInstanceOf(cls as typeof Error);
    expect((thrown as ReauthRequiredError).toPayload()).toEqual(payload);
  });
});
