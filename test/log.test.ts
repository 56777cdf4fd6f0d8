// The logger's redaction: secrets never reach a line, error codes always do.
import { Writable } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { createLogger } from '../src/log.js';

function capture() {
  const lines: string[] = [];
  const destination = new Writable({
    write(chunk, _enc, done) {
      lines.push(String(chunk));
      done();
    },
  });
  return { logger: createLogger({ level: 'debug', destination }), lines };
}

describe('createLogger', () => {
  it('keeps the error code field and redacts authorization codes by where they travel', () => {
    const { logger, lines } = capture();
    logger.warn(
      {
        code: 'reauth_required',
        err: { code: 'ECONNREFUSED' },
        query: { code: 'canary-code-1', state: 's' },
        callback: { params: { code: 'canary-code-2' } },
        authorizationCode: 'canary-code-3',
        token: { access_token: 'canary-at' },
        refreshToken: 'canary-rt',
        req: { headers: { authorization: 'Bearer canary-bearer' } },
      },
      'tool call failed',
    );
    const out = lines.join('');
    const line = JSON.parse(out) as Record<string, unknown>;
    expect(line.code).toBe('reauth_required');
    expect(line.err).toEqual({ code: 'ECONNREFUSED' });
    expect(line.query).toEqual({ code: '[redacted]', state: 's' });
    for (const canary of [
      'canary-code-1',
      'canary-code-2',
      'canary-code-3',
      'canary-at',
      'canary-rt',
      'canary-bearer',
    ]) {
      expect(out).not.toContain(canary);
    }
  });
});
