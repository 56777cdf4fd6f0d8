// A loopback issuer the tests control: OpenID discovery, a JWKS that can rotate, and RFC 7662 introspection.
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { type CryptoKey, exportJWK, exportSPKI, generateKeyPair, type JWK, type JWTPayload, SignJWT } from 'jose';

export interface IssuerKey {
  kid: string;
  privateKey: CryptoKey;
  publicKey: CryptoKey;
  publicJwk: JWK;
  spki: string;
}

export interface FakeIssuer {
  issuer: string;
  jwksUri: string;
  introspectionEndpoint: string;
  /** Requests per path, to assert what was fetched and how often. */
  hits: Map<string, number>;
  /** The key that signs by default (the newest one published). */
  current: IssuerKey;
  /** Published keys. */
  published: IssuerKey[];
  newKey(kid: string): Promise<IssuerKey>;
  /** Publishes a new key and signs with it from now on; the old key stays published unless `drop`. */
  rotate(kid: string, opts?: { drop?: boolean }): Promise<IssuerKey>;
  sign(claims: JWTPayload, opts?: { key?: IssuerKey; typ?: string | null; kid?: string }): Promise<string>;
  /** Opaque tokens and what introspection says about them. */
  opaque: Map<string, Record<string, unknown>>;
  introspectionClient: { clientId: string; clientSecret: string };
  /** Overrides for the discovery document (to break it on purpose). */
  metadataOverrides: Record<string, unknown>;
  /** Status the JWKS endpoint answers with (200 unless a test says otherwise). */
  jwksStatus: number;
  close(): Promise<void>;
}

async function makeKey(kid: string): Promise<IssuerKey> {
  const { privateKey, publicKey } = await generateKeyPair('RS256', { extractable: true });
  const publicJwk = { ...(await exportJWK(publicKey)), kid, alg: 'RS256', use: 'sig' };
  return { kid, privateKey, publicKey, publicJwk, spki: await exportSPKI(publicKey) };
}

async function readBody(req: IncomingMessage): Promise<string> {
  let body = '';
  for await (const chunk of req) body += chunk;
  return body;
}

function json(res: ServerResponse, status: number, body: unknown): void {
  res.writeHead(status, { 'content-type': 'application/json' });
  res.end(JSON.stringify(body));
}

export async function startFakeIssuer(): Promise<FakeIssuer> {
  const first = await makeKey('key-1');
  const state = {
    hits: new Map<string, number>(),
    published: [first],
    current: first,
    opaque: new Map<string, Record<string, unknown>>(),
    introspectionClient: { clientId: 'keyward-rs', clientSecret: 's3cret:with space' },
    metadataOverrides: {} as Record<string, unknown>,
    jwksStatus: 200,
  };
  let base = '';

  const server = createServer(async (req, res) => {
    const path = new URL(req.url ?? '/', 'http://x').pathname;
    state.hits.set(path, (state.hits.get(path) ?? 0) + 1);
    if (path === '/.well-known/openid-configuration') {
      json(res, 200, {
        issuer: base,
        jwks_uri: `${base}/jwks`,
        introspection_endpoint: `${base}/introspect`,
        authorization_endpoint: `${base}/auth`,
        token_endpoint: `${base}/token`,
        response_types_supported: ['code'],
        ...state.metadataOverrides,
      });
      return;
    }
    if (path === '/jwks') {
      json(res, state.jwksStatus, { keys: state.published.map((k) => k.publicJwk) });
      return;
    }
    if (path === '/introspect' && req.method === 'POST') {
      const { clientId, clientSecret } = state.introspectionClient;
      const enc = (s: string) => encodeURIComponent(s).replace(/%20/g, '+');
      const expected = `Basic ${Buffer.from(`${enc(clientId)}:${enc(clientSecret)}`).toString('base64')}`;
      if (req.headers.authorization !== expected) {
        json(res, 401, { error: 'invalid_client' });
        return;
      }
      const form = new URLSearchParams(await readBody(req));
      json(res, 200, state.opaque.get(form.get('token') ?? '') ?? { active: false });
      return;
    }
    json(res, 404, { error: 'not_found' });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;

  const issuer: FakeIssuer = {
    issuer: base,
    jwksUri: `${base}/jwks`,
    introspectionEndpoint: `${base}/introspect`,
    get hits() {
      return state.hits;
    },
    get current() {
      return state.current;
    },
    get published() {
      return state.published;
    },
    opaque: state.opaque,
    introspectionClient: state.introspectionClient,
    metadataOverrides: state.metadataOverrides,
    get jwksStatus() {
      return state.jwksStatus;
    },
    set jwksStatus(s: number) {
      state.jwksStatus = s;
    },
    newKey: makeKey,
    async rotate(kid, opts = {}) {
      const key = await makeKey(kid);
      state.published = opts.drop ? [key] : [...state.published, key];
      state.current = key;
      return key;
    },
    async sign(claims, opts = {}) {
      const key = opts.key ?? state.current;
      const header: { alg: string; kid: string; typ?: string } = { alg: 'RS256', kid: opts.kid ?? key.kid };
      if (opts.typ !== null) header.typ = opts.typ ?? 'at+jwt';
      return new SignJWT(claims).setProtectedHeader(header).sign(key.privateKey);
    },
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
  return issuer;
}
