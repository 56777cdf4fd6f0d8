// missingScopes: the set difference every policy decision rests on.
import { describe, expect, it } from 'vitest';
import { missingScopes } from '../../src/policy/scopes.js';

describe('missingScopes', () => {
  it.each([
    { held: [], needed: [], missing: [] },
    { held: ['a'], needed: [], missing: [] },
    { held: [], needed: ['a'], missing: ['a'] },
    { held: ['a', 'b'], needed: ['a', 'b'], missing: [] },
    { held: ['b', 'a'], needed: ['a'], missing: [] },
    { held: ['a'], needed: ['c', 'a', 'b'], missing: ['c', 'b'] },
    { held: ['a'], needed: ['b', 'b'], missing: ['b'] },
    // Scopes are compared exactly: case and prefixes mean different scopes.
    { held: ['Notes:Read'], needed: ['notes:read'], missing: ['notes:read'] },
    { held: ['notes'], needed: ['notes:read'], missing: ['notes:read'] },
  ])('held $held, needed $needed -> missing $missing', ({ held, needed, missing }) => {
    expect(missingScopes(held, needed)).toEqual(missing);
  });
});
