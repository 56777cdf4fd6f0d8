// The onboarding routes: /connect and /callback for granting access, /signin for who is at the browser, /accounts to see and revoke.
import { type ErrorRequestHandler, type Request, type RequestHandler, type Response, Router } from 'express';
import { z } from 'zod';
import { isLoopbackUrl } from '../config/schema.js';
import type { ResolvedConfig } from '../config/types.js';
import type { ProviderRuntime } from '../providers/types.js';
import { mountAccounts } from './accounts.js';
import { auditOnboarding } from './audit.js';
import { readCookie, serializeCookie } from './cookies.js';
import type { GrantSummary, OnboardingDeps } from './deps.js';
import { completeFlow, startFlow } from './flow.js';
import { errorPage, type Page } from './pages.js';
import { type ConnectLink, isRandomId, keys, randomId, readLive, STATE_TTL_MS } from './records.js';
import { redirect, sendPage } from './respond.js';
import { type ActiveSession, createSessions } from './session.js';
import { createSignIn, type SignInClient, SignInError, safeReturnPath } from './signin.js';

export interface FlowDone {
  ok: boolean;
  provider: string;
  user?: string;
  linkId?: string;
  reason?: string;
  grant?: GrantSummary;
}

export interface OnboardingRouterOptions {
  /** Where browsers reach these routes. Default: config.server.publicUrl. */
  publicUrl?: string;
  /**
   * How the person at the browser is confirmed. `signin` (the default where config.identity is
   * set): they sign in at the inbound identity provider and get a session. `local` (the default
   * otherwise): the gateway has one local user and listens on loopback only.
   */
  mode?: 'signin' | 'local';
  /** The client the gateway signs people in with; default: registered dynamically at the issuer. */
  signInClient?: SignInClient;
  /** The user in `local` mode. Default: config.server.user. */
  localUser?: string;
  /** Serve /accounts. Default true. */
  accounts?: boolean;
  /** Serve only flows that start from a connect link (the stdio loopback listener). Default false. */
  requireLink?: boolean;
  /** Whether the provider's ID token must name the flow's user; see defaultSubjectCheck. */
  subjectMustMatch?: (runtime: ProviderRuntime) => boolean;
  /** Told when a callback finishes, well or not (the CLI waits on it). */
  onFlowDone?: (done: FlowDone) => void;
  /** Told on every request (the loopback listener's idle timer). */
  onRequest?: () => void;
}

/**
 * Whether the ID token `sub` that comes back with the code must be the link's user.
 *
 * - With inbound identity, the gateway session already says who the person is. Where the
 *   provider is that same identity provider, its account must be the same user as well.
 * - Without it, the provider's login is the only evidence of who opened the link. User names
 *   and provider subjects share one namespace only where the authorization server is local (the
 *   embedded demo, a test server); Google's numeric `sub` is never the local user's name, so
 *   there the check would refuse everyone and is left off (the listener is loopback-only).
 */
export function defaultSubjectCheck(config: ResolvedConfig): (runtime: ProviderRuntime) => boolean {
  return (runtime) => {
    const issuer = runtime.config.issuer;
    if (!issuer) return false;
    if (config.identity) return trimSlash(issuer) === trimSlash(config.identity.issuer);
    return isLoopbackUrl(issuer);
  };
}

function trimSlash(s: string): string {
  return s.replace(/\/+$/, '');
}

/** RFC 6749 scope-token characters, space-separated, bounded. */
const ScopeParam = z
  .string()
  .max(2000)
  .regex(/^[\x21\x23-\x5B\x5D-\x7E]+( [\x21\x23-\x5B\x5D-\x7E]+)*$/);

export function createOnboardingRouter(deps: OnboardingDeps, opts: OnboardingRouterOptions = {}): Router {
  const { config } = deps;
  const publicUrl = trimSlash(opts.publicUrl ?? config.server.publicUrl);
  const mode = opts.mode ?? (config.identity ? 'signin' : 'local');
  if (mode === 'signin' && (!config.identity || !deps.signIn))
    throw new Error('onboarding mode "signin" needs config.identity');
  const localUser = opts.localUser ?? config.server.user;
  const sessions = createSessions(deps, publicUrl);
  const signIn =
    mode === 'signin' && config.identity && deps.signIn
      ? createSignIn(deps, config.identity, deps.signIn, {
          publicUrl,
          ...(opts.signInClient ? { client: opts.signInClient } : {}),
        })
      : undefined;
  const subjectMustMatch = opts.subjectMustMatch ?? defaultSubjectCheck(config);
  const router = Router();

  const touch: RequestHandler = (_req, _res, next) => {
    opts.onRequest?.();
    next();
  };

  /** Signed-in mode: the session, or a redirect to sign in (and undefined). Local mode: a session, made if need be. */
  async function whoIsHere(req: Request, res: Response): Promise<ActiveSession | undefined> {
    const active = await sessions.current(req);
    if (mode === 'signin') {
      if (active?.session.via === 'signin') return active;
      redirect(res, `${publicUrl}/signin?return=${encodeURIComponent(req.originalUrl)}`, 303);
      return undefined;
    }
    return active ?? (await sessions.create(res, { user: localUser, via: 'local' }));
  }

  const connect: RequestHandler = async (req, res) => {
    const started = deps.clock.now();
    const provider = String(req.params.provider);
    const linkId = req.params.link === undefined ? undefined : String(req.params.link);
    const refuse = async (
      page: Page,
      reason: string,
      who?: { user?: string; tenant?: string; client?: string; callId?: string },
    ) => {
      await auditOnboarding(deps, 'onboarding.connect', {
        provider,
        ...who,
        outcome: 'error',
        reason,
        started,
      });
      sendPage(res, page);
    };

    if (!deps.providers.has(provider)) {
      return refuse(
        errorPage(404, 'Unknown service', 'There is no service by that name on this gateway.'),
        'unknown_provider',
      );
    }
    let link: ConnectLink | undefined;
    if (linkId !== undefined) {
      link = isRandomId(linkId) ? await readLive<ConnectLink>(deps.records, keys.link(linkId), deps.clock) : undefined;
      if (!link || link.provider !== provider) {
        return refuse(
          errorPage(
            410,
            'This link has expired',
            'Links to grant access work for a short time and once only.',
            'Ask your agent to retry the call; it will give you a new link.',
          ),
          'unknown_link',
        );
      }
    } else if (opts.requireLink) {
      return refuse(errorPage(404, 'Not found', 'There is nothing here.'), 'no_link');
    }

    const here = await whoIsHere(req, res);
    if (!here) return;
    // MCP 2025-11-25, URL elicitation: the person who opened the link must be the user the call
    // was for, and that is checked before anything is sent to the third party.
    if (mode === 'signin' && link && (here.session.user !== link.user || here.session.tenant !== link.tenant)) {
      return refuse(
        errorPage(
          403,
          'This link is for another user',
          'You are signed in as a different user than the one this link was made for, so it was not followed.',
          'Sign out on the accounts page and sign in as that user, or send the link to them.',
        ),
        'different_user',
        { user: link.user, tenant: link.tenant, client: link.client, callId: link.callId },
      );
    }

    const user = link?.user ?? here.session.user;
    const tenant = link ? link.tenant : here.session.tenant;
    const extra =
      typeof req.query.scope === 'string' && ScopeParam.safeParse(req.query.scope).success
        ? req.query.scope.split(' ')
        : [];
    const client = link?.client ?? (opts.accounts === false ? 'keyward-cli' : 'keyward-web');
    try {
      const flow = await startFlow(deps, {
        provider,
        user,
        ...(tenant ? { tenant } : {}),
        client,
        scopes: [...(link?.scopes ?? []), ...extra],
        ...(link?.callId ? { callId: link.callId } : {}),
        ...(linkId && link ? { linkId } : {}),
        sessionId: here.id,
        publicUrl,
      });
      await auditOnboarding(deps, 'onboarding.connect', {
        provider,
        user,
        tenant,
        client,
        scopes: flow.scopes,
        callId: link?.callId,
        outcome: 'ok',
        started,
      });
      redirect(res, flow.url.href);
    } catch (err) {
      deps.logger.error({ err, provider }, 'could not start onboarding');
      return refuse(
        errorPage(
          502,
          'The service cannot be reached',
          'Keyward could not prepare the sign-in at this service.',
          'Try again in a minute.',
        ),
        'provider_unavailable',
        { user, tenant, client, callId: link?.callId },
      );
    }
  };

  router.get('/connect/:provider{/:link}', touch, connect);

  router.get('/callback/:provider', touch, async (req, res) => {
    const active = await sessions.current(req);
    const outcome = await completeFlow(deps, {
      provider: String(req.params.provider),
      query: req.query as Record<string, unknown>,
      ...(active ? { sessionId: active.id } : {}),
      ...(mode === 'signin' && active
        ? {
            sessionUser: {
              user: active.session.user,
              ...(active.session.tenant ? { tenant: active.session.tenant } : {}),
            },
          }
        : {}),
      subjectMustMatch,
      ...(opts.accounts !== false ? { accountsUrl: `${publicUrl}/accounts` } : {}),
    });
    sendPage(res, outcome.page);
    opts.onFlowDone?.({
      ok: outcome.ok,
      provider: String(req.params.provider),
      ...(outcome.flow ? { user: outcome.flow.user } : {}),
      ...(outcome.flow?.linkId ? { linkId: outcome.flow.linkId } : {}),
      ...(outcome.ok ? { grant: outcome.grant } : { reason: outcome.reason }),
    });
  });

  if (signIn) {
    router.get('/signin', async (req, res) => {
      const binding = randomId();
      try {
        const url = await signIn.begin(safeReturnPath(req.query.return), binding);
        res.append(
          'Set-Cookie',
          serializeCookie(sessions.policy, binding, STATE_TTL_MS / 1000, sessions.policy.signInName),
        );
        redirect(res, url.href);
      } catch (err) {
        deps.logger.error({ err }, 'could not start sign-in');
        sendPage(
          res,
          errorPage(
            502,
            'Sign-in is unavailable',
            'The identity provider could not be reached.',
            'Try again in a minute.',
          ),
        );
      }
    });

    router.get('/signin/callback', async (req, res) => {
      const started = deps.clock.now();
      const binding = readCookie(req.headers.cookie, sessions.policy.signInName);
      res.append('Set-Cookie', serializeCookie(sessions.policy, '', 0, sessions.policy.signInName));
      try {
        const who = await signIn.complete(new URL(req.originalUrl, publicUrl), binding);
        await sessions.create(res, { user: who.user, ...(who.tenant ? { tenant: who.tenant } : {}), via: 'signin' });
        await auditOnboarding(deps, 'onboarding.signin', {
          provider: '',
          user: who.user,
          tenant: who.tenant,
          outcome: 'ok',
          started,
        });
        redirect(res, `${publicUrl}${who.returnTo}`, 303);
      } catch (err) {
        const reason = err instanceof SignInError ? err.reason : 'internal';
        await auditOnboarding(deps, 'onboarding.signin', { provider: '', outcome: 'error', reason, started });
        deps.logger.warn({ reason }, 'sign-in refused');
        sendPage(
          res,
          errorPage(
            reason === 'unavailable' ? 502 : 400,
            'Sign-in was not completed',
            reason === 'unknown_state'
              ? 'This sign-in does not belong to this browser, was already used, or is too old.'
              : 'The identity provider did not confirm who you are.',
            'Open the link again to start over.',
          ),
        );
      }
    });
  }

  if (opts.accounts !== false) mountAccounts(router, { deps, sessions, publicUrl, mode, whoIsHere });

  // A store or provider failure inside a route: a page that says so, never a stack trace.
  router.use(((err, req, res, next) => {
    // Errors from the app's other routes pass through a mounted router: leave them to the app.
    if (res.headersSent || !/^\/(connect|callback|signin|accounts)(\/|$)/.test(req.path)) {
      next(err);
      return;
    }
    // The body parser's refusals (too many fields, too large, malformed) are the client's: a 4xx, no error log.
    const status = (err as { status?: unknown }).status;
    if (typeof status === 'number' && status >= 400 && status < 500) {
      deps.logger.info({ status, type: (err as { type?: unknown }).type }, 'onboarding request refused');
      sendPage(
        res,
        errorPage(
          status,
          'Request refused',
          'The form sent to the gateway was not one it accepts.',
          'Go back, reload the page and try again.',
        ),
      );
      return;
    }
    deps.logger.error({ err }, 'onboarding request failed');
    sendPage(
      res,
      errorPage(503, 'Something went wrong', 'The gateway could not complete this just now.', 'Try again in a minute.'),
    );
  }) as ErrorRequestHandler);

  return router;
}
