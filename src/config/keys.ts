// The one reading of an encryption key: its text form (base64url, or standard base64) and its kid.
import { createHash, randomBytes } from 'node:crypto';
import type { EncryptionKey } from './types.js';

export const KEY_BYTES = 32;

/** One alphabet or the other, never a mix: a key with both `-` and `+` is a damaged copy. */
const KEY_TEXT = /^(?:[A-Za-z0-9_-]+|[A-Za-z0-9+/]+)={0,2}$/;

/** A fresh 256-bit key, base64url: what `keyward keygen` prints and the config holds. */
export function generateEncryptionKey(): string {
  return randomBytes(KEY_BYTES).toString('base64url');
}

/** The short id that goes into each JWE's `kid`: it names the key without revealing it. */
export function keyIdOf(key: Uint8Array): string {
  return createHash('sha256').update(key).digest('base64url').slice(0, 12);
}

/**
 * The key's bytes, or undefined when the text is not a 32-byte key. Base64url (what `keygen`
 * prints) and standard base64 (what `openssl rand -base64 32` prints) both decode to the same key.
 */
export function decodeEncryptionKey(text: string): Uint8Array | undefined {
  const trimmed = text.trim();
  // Buffer's decoder skips characters it does not know, so the alphabet is checked first.
  if (!KEY_TEXT.test(trimmed)) return undefined;
  const bytes = Buffer.from(trimmed.replace(/\+/g, '-').replace(/\//g, '_'), 'base64url');
  return bytes.length === KEY_BYTES ? new Uint8Array(bytes) : undefined;
}

/** Decodes a configured key and derives its kid; throws a TypeError that says how to get a good one. */
export function encryptionKeyFrom(text: string): EncryptionKey {
  const key = decodeEncryptionKey(text);
  if (!key) {
    throw new TypeError(
      `an encryption key must be ${KEY_BYTES} bytes in base64url or base64; generate one with \`keyward keygen\``,
    );
  }
  return { kid: keyIdOf(key), key };
}
