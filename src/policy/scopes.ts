// Scope arithmetic shared by every policy decision: what a holder lacks of what is needed.

/** The scopes in `needed` that `held` lacks, in `needed`'s order, each once. Empty: covered. */
export function missingScopes(held: readonly string[], needed: readonly string[]): string[] {
  const have = new Set(held);
  return [...new Set(needed)].filter((s) => !have.has(s));
}
