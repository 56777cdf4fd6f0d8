// The demo authorization server's sign-in and consent (instead of oidc-provider's development pages), its home page,
// and CORS on dynamic registration for browser-based MCP clients.
import type Provider from 'oidc-provider';
import type { KoaContextWithOIDC } from 'oidc-provider';
import { consentPage, demoPage, escapeHtml, homePage, loginPage } from './pages.js';

type Ctx = KoaContextWithOIDC;
type Next = () => Promise<unknown>;

export interface InteractionOptions {
  /**
   * The user Keyward acts for over stdio (`server.user`, KEYWARD_USER or the OS user). A stdio grant must belong to
   * that user, so sign-ins for Keyward's own client that do not come back to its web callback name that user.
   */
  localUser?: string;
  /** The client id Keyward itself uses at this server. */
  gatewayClientId?: string;
  /** The gateway's web origin: a sign-in that returns there is for an HTTP user, who may be anyone. */
  webCallbackOrigin?: string;
}

const LOOPBACK_ORIGIN = /^http:\/\/(127\.\d{1,3}\.\d{1,3}\.\d{1,3}|localhost|\[::1\])(:\d{1,5})?$/;

/** Browser-based MCP clients run on this machine (the Inspector's UI); only loopback pages may call. */
export function corsOriginAllowed(origin: string): boolean {
  return LOOPBACK_ORIGIN.test(origin);
}

/**
 * RFC 7591 registration from a browser: oidc-provider answers CORS on its metadata, JWKS and token endpoints, but not
 * on `/reg`, so a browser-based client could not register. No cookie is involved, so no credentials are allowed.
 */
export function registrationCors() {
  return async (ctx: Ctx, next: Next) => {
    const origin = ctx.get('origin');
    if (!/^\/reg(\/|$)/.test(ctx.path) || !origin || !corsOriginAllowed(origin)) return next();
    ctx.vary('Origin');
    ctx.set('Access-Control-Allow-Origin', origin);
    if (ctx.method === 'OPTIONS') {
      ctx.set('Access-Control-Allow-Methods', 'GET, POST, PUT, DELETE');
      ctx.set(
        'Access-Control-Allow-Headers',
        ctx.get('access-control-request-headers') || 'content-type, authorization',
      );
      ctx.set('Access-Control-Max-Age', '3600');
      ctx.status = 204;
      return;
    }
    await next();
  };
}

async function readForm(ctx: Ctx): Promise<URLSearchParams> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of ctx.req) {
    size += (chunk as Buffer).length;
    if (size > 16 * 1024) ctx.throw(413, 'form too large');
    chunks.push(chunk as Buffer);
  }
  return new URLSearchParams(Buffer.concat(chunks).toString('utf8'));
}

const ACCOUNT = /^[\p{L}\p{N}._@+-]{1,64}$/u;

export function demoInteractions(provider: Provider, opts: InteractionOptions) {
  const stdioWhy =
    'Keyward over stdio (Claude Desktop, the MCP Inspector, `keyward connect`) acts for this user on this computer.';

  /** Who the grant has to be for, where this server can know it. */
  function expectedUser(params: Record<string, unknown>): { user: string; why: string } | undefined {
    if (typeof params.login_hint === 'string' && ACCOUNT.test(params.login_hint)) {
      return { user: params.login_hint, why: 'The application that sent you here asked for this user.' };
    }
    if (!opts.localUser || params.client_id !== opts.gatewayClientId) return undefined;
    const redirect = typeof params.redirect_uri === 'string' ? params.redirect_uri : undefined;
    if (redirect && opts.webCallbackOrigin && redirect.startsWith(`${opts.webCallbackOrigin}/`)) return undefined;
    return { user: opts.localUser, why: stdioWhy };
  }

  async function clientName(clientId: unknown): Promise<string> {
    const client = typeof clientId === 'string' ? await provider.Client.find(clientId) : undefined;
    return client?.clientName ?? (typeof clientId === 'string' ? clientId : 'An application');
  }

  function finish(ctx: Ctx, returnTo: string) {
    ctx.status = 303;
    ctx.set('Cache-Control', 'no-store');
    ctx.redirect(returnTo);
  }

  async function render(ctx: Ctx, uid: string, switching: boolean) {
    const details = await provider.interactionDetails(ctx.req, ctx.res);
    if (details.uid !== uid) ctx.throw(400, 'this sign-in belongs to another page; start again');
    const params = details.params as Record<string, unknown>;
    const expected = expectedUser(params);
    const name = await clientName(params.client_id);
    const account = details.session?.accountId;
    ctx.type = 'html';
    ctx.set('Cache-Control', 'no-store');
    if (details.prompt.name === 'login' || switching || !account) {
      const as = typeof ctx.query.as === 'string' && ACCOUNT.test(ctx.query.as) ? ctx.query.as : undefined;
      const user = as ?? expected?.user;
      ctx.body = loginPage({
        action: `/interaction/${uid}`,
        clientName: name,
        ...(user ? { expectedUser: user, expectedWhy: expected?.why ?? '' } : {}),
        ...(switching && account ? { switchingFrom: account } : {}),
      });
      return;
    }
    if (details.prompt.name !== 'consent') ctx.throw(501, `the demo cannot answer the "${details.prompt.name}" prompt`);
    const resources = [params.resource].flat().filter((r): r is string => typeof r === 'string');
    const missing = details.prompt.details.missingResourceScopes as Record<string, string[]> | undefined;
    for (const r of Object.keys(missing ?? {})) if (!resources.includes(r)) resources.push(r);
    const scopes = typeof params.scope === 'string' ? params.scope.split(' ').filter(Boolean) : [];
    ctx.body = consentPage({
      action: `/interaction/${uid}`,
      abortUrl: `/interaction/${uid}/abort`,
      switchUrl: `/interaction/${uid}/switch`,
      clientName: name,
      account,
      resources,
      scopes,
      ...(expected ? { expectedUser: expected.user, expectedWhy: expected.why } : {}),
    });
  }

  async function submit(ctx: Ctx, uid: string) {
    const details = await provider.interactionDetails(ctx.req, ctx.res);
    if (details.uid !== uid) ctx.throw(400, 'this sign-in belongs to another page; start again');
    const form = await readForm(ctx);
    if (form.get('prompt') === 'login') {
      const login = form.get('login')?.trim() ?? '';
      if (!ACCOUNT.test(login)) ctx.throw(400, 'a name is 1-64 letters, digits or . _ @ + -');
      // A different account than the session's replaces it: that is how a person switches user here.
      finish(
        ctx,
        await provider.interactionResult(
          ctx.req,
          ctx.res,
          { login: { accountId: login } },
          {
            mergeWithLastSubmission: false,
          },
        ),
      );
      return;
    }
    if (form.get('prompt') !== 'consent' || details.prompt.name !== 'consent' || !details.session) {
      ctx.throw(400, 'this page is out of date; start again');
    }
    const { grantId, params } = details;
    const prompt = details.prompt.details as {
      missingOIDCScope?: string[];
      missingOIDCClaims?: string[];
      missingResourceScopes?: Record<string, string[]>;
    };
    const grant = grantId
      ? await provider.Grant.find(grantId)
      : new provider.Grant({ accountId: details.session.accountId, clientId: String(params.client_id) });
    if (!grant) ctx.throw(400, 'this sign-in expired; start again');
    if (prompt.missingOIDCScope) grant.addOIDCScope(prompt.missingOIDCScope.join(' '));
    if (prompt.missingOIDCClaims) grant.addOIDCClaims(prompt.missingOIDCClaims);
    for (const [indicator, scope] of Object.entries(prompt.missingResourceScopes ?? {})) {
      grant.addResourceScope(indicator, scope.join(' '));
    }
    const saved = await grant.save();
    finish(ctx, await provider.interactionResult(ctx.req, ctx.res, { consent: { grantId: saved } }));
  }

  return async (ctx: Ctx, next: Next) => {
    if (ctx.path === '/' && ctx.method === 'GET') {
      const session = await provider.Session.get(ctx);
      ctx.type = 'html';
      ctx.set('Cache-Control', 'no-store');
      ctx.body = homePage({
        issuer: provider.issuer,
        ...(session.accountId ? { account: session.accountId } : {}),
        signOutUrl: '/session/end',
      });
      return;
    }
    const m = /^\/interaction\/([A-Za-z0-9_-]{1,64})(\/abort|\/switch)?$/.exec(ctx.path);
    if (!m?.[1]) return next();
    const [, uid, action] = m as unknown as [string, string, string | undefined];
    ctx.set('X-Frame-Options', 'DENY');
    ctx.set('Content-Security-Policy', "default-src 'none'; style-src 'unsafe-inline'");
    try {
      await interaction(ctx, uid, action);
    } catch (err) {
      const status =
        (err as { status?: number; statusCode?: number }).statusCode ?? (err as { status?: number }).status;
      if (!status || status >= 500) throw err;
      // An old tab, another browser, a sign-in that expired: say what to do rather than a bare error code.
      ctx.status = status;
      ctx.type = 'html';
      const ours = !(err as { error_description?: unknown }).error_description && err instanceof Error;
      ctx.body = demoPage(
        'This sign-in cannot continue',
        ours
          ? `<p>${escapeHtml(err.message)}.</p><p>Go back and try again.</p>`
          : '<p>This page belongs to a sign-in that expired, was finished already, or was started in another browser.</p><p>Start again from the link your agent gave you, or ask it to retry the call for a new link.</p>',
      );
    }
  };

  async function interaction(ctx: Ctx, uid: string, action: string | undefined) {
    if (ctx.method === 'GET' && action === '/abort') {
      const returnTo = await provider.interactionResult(
        ctx.req,
        ctx.res,
        { error: 'access_denied', error_description: 'End-User aborted interaction' },
        { mergeWithLastSubmission: false },
      );
      finish(ctx, returnTo);
      return;
    }
    if (ctx.method === 'GET') return render(ctx, uid, action === '/switch');
    if (ctx.method === 'POST' && !action) return submit(ctx, uid);
    ctx.throw(405);
  }
}
