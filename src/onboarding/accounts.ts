// The accounts page: the signed-in user's grants, with connect and disconnect as CSRF-protected forms that need no script.
import express, { type Request, type Response, type Router } from 'express';
import { auditOnboarding } from './audit.js';
import type { OnboardingDeps } from './deps.js';
import { connectUrl } from './links.js';
import { type AccountRow, accountsPage, errorPage, signedOutPage } from './pages.js';
import { redirect, sendPage } from './respond.js';
import type { ActiveSession, Sessions } from './session.js';

const NOTICES: Record<string, (p: string) => string> = {
  revoked: (p) => `Disconnected ${p}: the access was revoked at the service and here.`,
  'revoked-here': (p) =>
    `Disconnected ${p} here. ${p} offers no way to revoke access remotely, so also remove Keyward in its settings.`,
  'revoke-failed': (p) =>
    `Disconnected ${p} here, but the service did not confirm the revocation; remove Keyward in its settings to be sure.`,
  none: (p) => `${p} was not connected.`,
};

export interface AccountsContext {
  deps: OnboardingDeps;
  sessions: Sessions;
  publicUrl: string;
  mode: 'signin' | 'local';
  /** The session at this browser, or undefined once a sign-in redirect has been sent. */
  whoIsHere(req: Request, res: Response): Promise<ActiveSession | undefined>;
}

export function mountAccounts(router: Router, ctx: AccountsContext): void {
  const { deps, sessions, publicUrl, mode, whoIsHere } = ctx;
  const form = express.urlencoded({ extended: false, limit: '4kb', parameterLimit: 10 });
  const origin = new URL(publicUrl).origin;

  /** A POST from one of our own forms: same origin (where the browser says), our session, our CSRF token. */
  async function formSession(req: Request, res: Response): Promise<ActiveSession | undefined> {
    const from = req.headers.origin;
    const active = await sessions.current(req);
    const body = (req.body ?? {}) as Record<string, unknown>;
    if ((from !== undefined && from !== origin) || !active || !sessions.csrfValid(active, body.csrf)) {
      sendPage(
        res,
        errorPage(
          403,
          'This form has expired',
          'The request did not come from this page, or your session ended.',
          'Reload the accounts page and try again.',
        ),
      );
      return undefined;
    }
    if (mode === 'signin' && active.session.via !== 'signin') {
      redirect(res, `${publicUrl}/signin?return=%2Faccounts`, 303);
      return undefined;
    }
    return active;
  }

  router.get('/accounts', async (req, res) => {
    const here = await whoIsHere(req, res);
    if (!here) return;
    const { user, tenant } = here.session;
    const grants = (await deps.grants.list({ user })).filter((g) => g.tenant === tenant);
    const rows: AccountRow[] = deps.providers.names().map((name) => {
      const grant = grants.find((g) => g.provider === name);
      const preset = deps.providers.get(name).preset;
      return {
        provider: name,
        title: preset?.title ?? name,
        connected: Boolean(grant),
        scopes: grant?.scopes ?? [],
        ...(grant
          ? {
              status: grant.status,
              consentedAt: grant.consentedAt,
              ...(grant.reason ? { reason: grant.reason } : {}),
              ...(grant.consentExpiresAt !== undefined ? { consentExpiresAt: grant.consentExpiresAt } : {}),
              ...(grant.lastUsedAt !== undefined ? { lastUsedAt: grant.lastUsedAt } : {}),
            }
          : {}),
      };
    });
    const p =
      typeof req.query.provider === 'string' && deps.providers.has(req.query.provider) ? req.query.provider : undefined;
    // Own keys only: `?notice=valueOf` must not reach Object.prototype.
    const key = req.query.notice;
    const notice = p && typeof key === 'string' && Object.hasOwn(NOTICES, key) ? NOTICES[key]?.(p) : undefined;
    sendPage(
      res,
      accountsPage({ user, rows, csrf: here.session.csrf, now: deps.clock.now(), ...(notice ? { notice } : {}) }),
    );
  });

  /** The form's session (see formSession) and the configured provider it names, or undefined once refused. */
  async function formRequest(
    req: Request,
    res: Response,
  ): Promise<{ active: ActiveSession; provider: string } | undefined> {
    const active = await formSession(req, res);
    if (!active) return undefined;
    const provider = String((req.body as Record<string, unknown>).provider ?? '');
    if (!deps.providers.has(provider)) {
      sendPage(res, errorPage(404, 'Unknown service', 'There is no service by that name on this gateway.'));
      return undefined;
    }
    return { active, provider };
  }

  // Ends this browser's session (so another user can sign in here); grants are not touched.
  router.post('/signout', form, async (req, res) => {
    const active = await formSession(req, res);
    if (!active) return;
    await sessions.destroy(req, res);
    sendPage(res, signedOutPage());
  });

  router.post('/accounts/connect', form, async (req, res) => {
    const ok = await formRequest(req, res);
    if (ok) redirect(res, connectUrl(publicUrl, ok.provider), 303);
  });

  router.post('/accounts/disconnect', form, async (req, res) => {
    const started = deps.clock.now();
    const ok = await formRequest(req, res);
    if (!ok) return;
    const { provider } = ok;
    const { user, tenant } = ok.active.session;
    let notice: string;
    try {
      const result = await deps.grants.revoke(user, provider, tenant);
      notice = !result.found
        ? 'none'
        : result.provider?.revoked
          ? 'revoked'
          : result.provider && !result.provider.supported
            ? 'revoked-here'
            : 'revoke-failed';
      await auditOnboarding(deps, 'onboarding.revoke', {
        provider,
        user,
        tenant,
        client: 'keyward-web',
        scopes: result.grant?.scopes,
        outcome: 'ok',
        reason: result.provider?.detail ?? (result.found ? undefined : 'no_grant'),
        ...(result.grant ? { grantId: result.grant.id } : {}),
        started,
      });
    } catch (err) {
      deps.logger.error({ err, provider }, 'could not revoke the grant');
      await auditOnboarding(deps, 'onboarding.revoke', {
        provider,
        user,
        tenant,
        client: 'keyward-web',
        outcome: 'error',
        reason: 'internal',
        started,
      });
      sendPage(
        res,
        errorPage(
          503,
          'Could not disconnect',
          'The gateway could not update the grant just now.',
          'Try again in a minute.',
        ),
      );
      return;
    }
    redirect(res, `${publicUrl}/accounts?notice=${notice}&provider=${encodeURIComponent(provider)}`, 303);
  });
}
