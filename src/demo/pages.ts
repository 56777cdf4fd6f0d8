// The demo authorization server's own pages: sign-in, consent, sign-out and its home, plain HTML without script.
import { escapeHtml } from '../onboarding/pages.js';

const STYLE = `
body{font:16px/1.5 system-ui,sans-serif;margin:0;color:#1b1b1b;background:#fafafa}
main{max-width:34rem;margin:3rem auto;padding:0 1rem}
h1{font-size:1.5rem}
.card{background:#fff;border:1px solid #ddd;border-radius:8px;padding:1rem 1.25rem;margin-bottom:1rem}
.warn{border-left:6px solid #b54708}
label{display:block;margin:.6rem 0 .2rem}
input[type=text],input[type=password]{font:inherit;width:100%;box-sizing:border-box;padding:.4rem}
button{font:inherit;padding:.4rem 1rem;margin:.8rem .5rem 0 0;cursor:pointer}
code{background:#f0f0f0;padding:0 .2rem;border-radius:3px}
small{color:#555}
`;

/** The onboarding pages' one escaper: every page Keyward serves escapes the same way. */
export { escapeHtml };

export function demoPage(title: string, body: string): string {
  return `<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="referrer" content="no-referrer">
<title>${escapeHtml(title)} · Keyward demo authorization server</title>
<style>${STYLE}</style>
</head>
<body>
<main>
<h1>${escapeHtml(title)}</h1>
${body}
<p><small>Keyward's demo authorization server. It accepts any name and any password, and forgets everything when it stops.</small></p>
</main>
</body>
</html>
`;
}

/** What each scope lets the client do, in words; an unknown scope is shown as it is. */
const SCOPE_WORDS: Record<string, string> = {
  openid: 'Confirm who you are',
  offline_access: 'Keep access while you are away (until you revoke it)',
  profile: 'See your name',
  email: 'See your email address',
  'notes:read': 'Read your notes',
  'notes:write': 'Create and change your notes',
  'notes:delete': 'Delete your notes',
  'mcp:tools': "Use the Keyward gateway's tools on your behalf",
};

export function scopeInWords(scope: string): string {
  return SCOPE_WORDS[scope] ?? scope;
}

export interface LoginView {
  action: string;
  clientName: string;
  /** The user the grant must be for, when the server knows it (login_hint, or Keyward's stdio user). */
  expectedUser?: string;
  /** Why expectedUser matters, in one sentence. */
  expectedWhy?: string;
  /** Set when the person chose to switch away from this account. */
  switchingFrom?: string;
}

export function loginPage(v: LoginView): string {
  const expected = v.expectedUser
    ? `<div class="card warn" role="note"><p>This grant is for <strong>${escapeHtml(v.expectedUser)}</strong>. ${escapeHtml(
        v.expectedWhy ?? '',
      )} Sign in as <strong>${escapeHtml(v.expectedUser)}</strong>: another name is refused and nothing is stored.</p></div>`
    : '';
  const switching = v.switchingFrom
    ? `<p>You were signed in as <strong>${escapeHtml(v.switchingFrom)}</strong>. Sign in as someone else:</p>`
    : '';
  return demoPage(
    'Sign in',
    `<p><strong>${escapeHtml(v.clientName)}</strong> asks you to sign in.</p>
${expected}${switching}
<form method="post" action="${escapeHtml(v.action)}" autocomplete="off">
<input type="hidden" name="prompt" value="login">
<label for="login">Name</label>
<input type="text" id="login" name="login" required autofocus value="${escapeHtml(v.expectedUser ?? '')}">
<label for="password">Password <small>(any; the demo does not check it)</small></label>
<input type="password" id="password" name="password">
<button type="submit">Sign in</button>
</form>`,
  );
}

export interface ConsentView {
  action: string;
  abortUrl: string;
  switchUrl: string;
  clientName: string;
  account: string;
  /** Resource indicators the access is for (the APIs). */
  resources: string[];
  scopes: string[];
  expectedUser?: string;
  expectedWhy?: string;
}

export function consentPage(v: ConsentView): string {
  const mismatch =
    v.expectedUser && v.expectedUser !== v.account
      ? `<div class="card warn" role="alert"><p>You are signed in as <strong>${escapeHtml(v.account)}</strong>, but this grant is for <strong>${escapeHtml(
          v.expectedUser,
        )}</strong>. ${escapeHtml(v.expectedWhy ?? '')} Allowing as ${escapeHtml(v.account)} is refused and nothing is stored.</p>
<p><a href="${escapeHtml(v.switchUrl)}?as=${encodeURIComponent(v.expectedUser)}">Sign in as ${escapeHtml(v.expectedUser)}</a></p></div>`
      : '';
  const resources = v.resources.length
    ? `<p>For ${v.resources.map((r) => `<code>${escapeHtml(r)}</code>`).join(', ')}, it may:</p>`
    : '<p>It may:</p>';
  const scopes = v.scopes.length
    ? `<ul>${v.scopes.map((s) => `<li>${escapeHtml(scopeInWords(s))} <small>(<code>${escapeHtml(s)}</code>)</small></li>`).join('')}</ul>`
    : '<ul><li>Confirm who you are</li></ul>';
  return demoPage(
    `Allow ${v.clientName}?`,
    `${mismatch}<p>Signed in as <strong>${escapeHtml(v.account)}</strong>. <a href="${escapeHtml(v.switchUrl)}">Not ${escapeHtml(
      v.account,
    )}? Sign in as someone else</a></p>
<div class="card"><p><strong>${escapeHtml(v.clientName)}</strong> asks for access.</p>${resources}${scopes}</div>
<form method="post" action="${escapeHtml(v.action)}">
<input type="hidden" name="prompt" value="consent">
<button type="submit">Allow</button>
<a href="${escapeHtml(v.abortUrl)}">Deny</a>
</form>`,
  );
}

export function homePage(v: { issuer: string; account?: string; signOutUrl: string }): string {
  const who = v.account
    ? `<p>You are signed in as <strong>${escapeHtml(v.account)}</strong>.</p><p><a href="${escapeHtml(v.signOutUrl)}">Sign out</a></p>`
    : '<p>You are not signed in. Clients send you here to sign in when they need to.</p>';
  return demoPage(
    'Demo authorization server',
    `${who}<p>Clients find this server's endpoints in <a href="/.well-known/openid-configuration">its metadata</a>.</p>`,
  );
}

export function logoutPage(account: string | undefined, form: string): string {
  const who = account ? `You are signed in as <strong>${escapeHtml(account)}</strong>.` : 'You are not signed in.';
  return demoPage(
    'Sign out?',
    `<p>${who} Signing out here changes nothing Keyward stored; the next sign-in asks for a name again.</p>${form}<button autofocus type="submit" form="op.logoutForm" value="yes" name="logout">Sign out</button> <button type="submit" form="op.logoutForm">Stay signed in</button>`,
  );
}

export function signedOutPage(): string {
  return demoPage(
    'Signed out',
    '<p>You are signed out of the demo authorization server. Open the link your agent gave you again to sign in as another user.</p>',
  );
}

export function deviceCodePage(form: string, failed: boolean): string {
  return demoPage(
    'Enter the code',
    `${failed ? '<p role="alert">That code did not work. Try again.</p>' : ''}${form}<button type="submit" form="op.deviceInputForm">Continue</button>`,
  );
}

export function deviceConfirmPage(form: string, clientName: string, userCode: string): string {
  return demoPage(
    'Confirm this device',
    `<p>${escapeHtml(clientName)} shows the code <code>${escapeHtml(userCode)}</code>.</p>${form}<button autofocus type="submit" form="op.deviceConfirmForm">Continue</button><button type="submit" form="op.deviceConfirmForm" value="yes" name="abort">Abort</button>`,
  );
}

/**
 * The device flow's last page. The terminal, not this page, knows whether the grant was stored, so it sends the person
 * back there, and warns when the account is not the user Keyward acts for (`keyward connect` will refuse it).
 */
export function deviceDonePage(account: string | undefined, localUser: string | undefined): string {
  const who = account ? ` as <strong>${escapeHtml(account)}</strong>` : '';
  const mismatch =
    account && localUser && account !== localUser
      ? `<p role="alert">Keyward acts for <strong>${escapeHtml(localUser)}</strong> on this computer, so it will refuse this sign-in. <a href="/session/end">Sign out</a>, then run <code>keyward connect</code> again and sign in as ${escapeHtml(localUser)}.</p>`
      : '';
  return demoPage(
    'Code accepted',
    `<p>You signed in${who}. Go back to the terminal: <code>keyward connect</code> finishes there and says whether the access was stored.</p>${mismatch}`,
  );
}
