// A standard MCP SDK client's OAuth side, for tests: its provider (the "browser" is driveAuthorization),
// a fetch that fits the demo AS's registration rules, and connect-then-finish-auth.
import { type OAuthClientProvider, UnauthorizedError } from '@modelcontextprotocol/sdk/client/auth.js';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import type {
  OAuthClientInformationMixed,
  OAuthClientMetadata,
  OAuthTokens,
} from '@modelcontextprotocol/sdk/shared/auth.js';
import { driveAuthorization } from './consent.js';

export const REDIRECT = 'http://127.0.0.1:33333/oauth/callback';

export interface TestClientOptions {
  /** Shown at registration. */
  clientName?: string;
  /** Who logs in at the AS. Default alice. */
  user?: string;
  /** false plays a client that keeps no refresh token (see the step-up test in test/identity). Default true. */
  keepRefreshTokens?: boolean;
}

/** An MCP client's OAuth state, with the "browser" played by driveAuthorization. */
export class TestClientProvider implements OAuthClientProvider {
  info?: OAuthClientInformationMixed;
  saved?: OAuthTokens;
  verifier?: string;
  code?: string;
  authorizations: URL[] = [];

  constructor(private readonly opts: TestClientOptions = {}) {}

  get redirectUrl() {
    return REDIRECT;
  }
  get clientMetadata(): OAuthClientMetadata {
    return {
      redirect_uris: [REDIRECT],
      token_endpoint_auth_method: 'none',
      grant_types: ['authorization_code', 'refresh_token'],
      response_types: ['code'],
      client_name: this.opts.clientName ?? 'SDK test client',
    };
  }
  clientInformation() {
    return this.info;
  }
  saveClientInformation(info: OAuthClientInformationMixed) {
    this.info = info;
  }
  tokens() {
    return this.saved;
  }
  saveTokens(tokens: OAuthTokens) {
    const { refresh_token: _dropped, ...rest } = tokens;
    this.saved = this.opts.keepRefreshTokens === false ? rest : tokens;
  }
  async redirectToAuthorization(url: URL) {
    this.authorizations.push(url);
    const { location } = await driveAuthorization(url.href, { user: this.opts.user ?? 'alice', stopAt: REDIRECT });
    this.code = new URL(location).searchParams.get('code') ?? undefined;
  }
  saveCodeVerifier(v: string) {
    this.verifier = v;
  }
  codeVerifier() {
    if (!this.verifier) throw new Error('no code verifier saved');
    return this.verifier;
  }
}

/**
 * The SDK client puts the resolved scope into its registration request, and oidc-provider refuses
 * registration scopes outside its own `scopes` list, which the demo AS limits to OIDC ones (resource
 * scopes are accepted only per resource). Until the demo AS accepts its resources' scopes at
 * registration, this drops `scope` from requests to `registrationEndpoint`, and only from those.
 */
export function withoutRegistrationScope(registrationEndpoint: string): typeof fetch {
  return async (input, init) => {
    const target = input instanceof Request ? input.url : String(input);
    if (target === registrationEndpoint && typeof init?.body === 'string') {
      const { scope: _dropped, ...metadata } = JSON.parse(init.body) as Record<string, unknown>;
      return fetch(input, { ...init, body: JSON.stringify(metadata) });
    }
    return fetch(input, init);
  };
}

/** Connects, and where the server says 401, finishes the authorization the provider ran and connects again. */
export async function connectWithOAuth(
  mcpUrl: URL,
  provider: TestClientProvider,
  clientFetch: typeof fetch,
  clientName = 'sdk-test',
): Promise<{ client: Client; transport: StreamableHTTPClientTransport }> {
  const open = async () => {
    const transport = new StreamableHTTPClientTransport(mcpUrl, { authProvider: provider, fetch: clientFetch });
    const client = new Client({ name: clientName, version: '0.0.0' });
    await client.connect(transport);
    return { client, transport };
  };
  try {
    return await open();
  } catch (err) {
    if (!(err instanceof UnauthorizedError)) throw err;
    const transport = new StreamableHTTPClientTransport(mcpUrl, { authProvider: provider, fetch: clientFetch });
    await transport.finishAuth(provider.code ?? '');
    return open();
  }
}
