// `keyward serve`'s overrides: --port moves a default publicUrl along, and a pinned one is warned about.
import { describe, expect, it } from 'vitest';
import { applyOverrides, publicUrlMismatch } from '../../src/cli/serve.js';
import type { ResolvedConfig } from '../../src/config/types.js';

function config(publicUrl: string): ResolvedConfig {
  return {
    server: { transport: 'http', host: '127.0.0.1', port: 8787, publicUrl, user: 'demo' },
  } as unknown as ResolvedConfig;
}

describe('serve --port', () => {
  it('moves the default publicUrl with the port, so nothing is to be said', () => {
    const moved = applyOverrides(config('http://127.0.0.1:8787'), { port: 9000 });
    expect(moved.server.publicUrl).toBe('http://127.0.0.1:9000');
    expect(publicUrlMismatch(moved, { port: 9000 })).toBeUndefined();
  });

  it('warns when the config pins publicUrl to another port', () => {
    const pinned = applyOverrides(config('http://localhost:8787'), { port: 9000 });
    expect(pinned.server.publicUrl).toBe('http://localhost:8787');
    expect(publicUrlMismatch(pinned, { port: 9000 })).toMatch(
      /^server\.publicUrl http:\/\/localhost:8787 is on another port than --port 9000: .*change server\.publicUrl/,
    );
  });

  it('says nothing without --port, with --port 0, or behind an https proxy on its default port', () => {
    expect(publicUrlMismatch(config('http://localhost:8787'), {})).toBeUndefined();
    expect(publicUrlMismatch(config('http://localhost:8787'), { port: 0 })).toBeUndefined();
    expect(publicUrlMismatch(config('https://keyward.example'), { port: 443 })).toBeUndefined();
  });
});
