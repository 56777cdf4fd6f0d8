// The HTML that onboarding shows people: success, failure and the accounts page. No script, no framing.

export interface Page {
  status: number;
  html: string;
}

export function escapeHtml(s: string): string {
  return s.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
}

const STYLE = `
body{font:16px/1.5 system-ui,sans-serif;margin:0;color:#1b1b1b;background:#fafafa}
main{max-width:46rem;margin:3rem auto;padding:0 1rem}
h1{font-size:1.6rem}
.card{background:#fff;border:1px solid #ddd;border-radius:8px;padding:1rem 1.25rem}
.ok{border-left:6px solid #1a7f37}.err{border-left:6px solid #b42318}
table{border-collapse:collapse;width:100%;background:#fff}
th,td{text-align:left;padding:.5rem;border-bottom:1px solid #ddd;vertical-align:top}
caption{text-align:left;font-weight:600;padding:.5rem 0}
button{font:inherit;padding:.35rem .8rem;cursor:pointer}
code{background:#f0f0f0;padding:0 .2rem;border-radius:3px}
.notice{padding:.75rem 1rem;border:1px solid #ddd;background:#fff;margin-bottom:1rem}
`;

export function layout(title: string, body: string): string {
  return `<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="referrer" content="no-referrer">
<title>${escapeHtml(title)} · Keyward</title>
<style>${STYLE}</style>
</head>
<body>
<main>
<h1>${escapeHtml(title)}</h1>
${body}
</main>
</body>
</html>
`;
}

export function successPage(opts: {
  provider: string;
  user: string;
  scopes: string[];
  consentExpiresAt?: number;
  accountsUrl?: string;
}): Page {
  const scopes = opts.scopes.length
    ? `<ul>${opts.scopes.map((s) => `<li><code>${escapeHtml(s)}</code></li>`).join('')}</ul>`
    : '<p>No scopes were reported.</p>';
  const expiry = opts.consentExpiresAt
    ? `<p>This access lasts until <time datetime="${new Date(opts.consentExpiresAt).toISOString()}">${escapeHtml(
        new Date(opts.consentExpiresAt).toUTCString(),
      )}</time>; after that you will be asked again.</p>`
    : '';
  const accounts = opts.accountsUrl
    ? `<p>You can see and revoke what you granted on <a href="${escapeHtml(opts.accountsUrl)}">your connected accounts</a>.</p>`
    : '<p>You can see what you granted with <code>keyward grants</code> and revoke it with <code>keyward revoke</code>.</p>';
  return {
    status: 200,
    html: layout(
      `Connected to ${opts.provider}`,
      `<div class="card ok" role="status">
<p>Keyward can now act for <strong>${escapeHtml(opts.user)}</strong> at <strong>${escapeHtml(opts.provider)}</strong>.
You can close this tab: if your agent gave you the link, ask it to retry; if you ran <code>keyward connect</code>, the terminal says it is done.</p>
</div>
<h2>Access granted</h2>
${scopes}
${expiry}
${accounts}`,
    ),
  };
}

export function errorPage(status: number, title: string, message: string, hint?: string): Page {
  return {
    status,
    html: layout(
      title,
      `<div class="card err" role="alert"><p>${escapeHtml(message)}</p></div>
${hint ? `<p>${escapeHtml(hint)}</p>` : ''}
<p>Nothing was changed: access you granted before is as it was.</p>`,
    ),
  };
}

export interface AccountRow {
  provider: string;
  title: string;
  connected: boolean;
  status?: string;
  reason?: string;
  scopes: string[];
  consentedAt?: number;
  consentExpiresAt?: number;
  lastUsedAt?: number;
}

function when(ms: number | undefined, fallback: string): string {
  if (ms === undefined) return escapeHtml(fallback);
  const d = new Date(ms);
  return `<time datetime="${d.toISOString()}">${escapeHtml(d.toUTCString())}</time>`;
}

function statusText(row: AccountRow, now: number): string {
  if (!row.connected) return 'Not connected';
  if (row.status === 'revoked') return 'Revoked';
  if (row.consentExpiresAt !== undefined && row.consentExpiresAt <= now) return 'Expired';
  if (row.status === 'needs_reauth') return 'Needs to be granted again';
  return 'Connected';
}

export function accountsPage(opts: {
  user: string;
  rows: AccountRow[];
  csrf: string;
  now: number;
  notice?: string;
}): Page {
  const hidden = `<input type="hidden" name="csrf" value="${escapeHtml(opts.csrf)}">`;
  const rows = opts.rows
    .map((r) => {
      const p = escapeHtml(r.provider);
      const active = r.connected && r.status !== 'revoked';
      const connectLabel = active ? 'Reconnect' : 'Connect';
      const actions = [
        `<form method="post" action="/accounts/connect"><input type="hidden" name="provider" value="${p}">${hidden}<button type="submit" aria-label="${connectLabel} ${p}">${connectLabel}</button></form>`,
      ];
      if (active) {
        actions.push(
          `<form method="post" action="/accounts/disconnect"><input type="hidden" name="provider" value="${p}">${hidden}<button type="submit" aria-label="Disconnect ${p}">Disconnect</button></form>`,
        );
      }
      const scopes = r.scopes.length ? r.scopes.map((s) => `<code>${escapeHtml(s)}</code>`).join(' ') : '—';
      return `<tr>
<th scope="row">${escapeHtml(r.title)}${r.title !== r.provider ? ` <small>(${p})</small>` : ''}</th>
<td>${escapeHtml(statusText(r, opts.now))}</td>
<td>${scopes}</td>
<td>${when(r.consentedAt, '—')}</td>
<td>${when(r.lastUsedAt, 'never')}</td>
<td>${when(r.consentExpiresAt, r.connected ? 'no limit' : '—')}</td>
<td>${actions.join('')}</td>
</tr>`;
    })
    .join('\n');
  const notice = opts.notice ? `<div class="notice" role="status">${escapeHtml(opts.notice)}</div>` : '';
  return {
    status: 200,
    html: layout(
      'Connected accounts',
      `${notice}<p>Signed in as <strong>${escapeHtml(opts.user)}</strong>. These are the services Keyward may use on your behalf.
Disconnecting revokes the access at the service where it allows that, and always here.</p>
<table>
<caption>Your connected accounts</caption>
<thead><tr><th scope="col">Service</th><th scope="col">Status</th><th scope="col">Scopes granted</th><th scope="col">Consent given</th><th scope="col">Last used</th><th scope="col">Expires</th><th scope="col">Actions</th></tr></thead>
<tbody>
${rows || '<tr><td colspan="7">No services are configured.</td></tr>'}
</tbody>
</table>
<form method="post" action="/signout">${hidden}<button type="submit">Sign out</button></form>`,
    ),
  };
}

export function signedOutPage(): Page {
  return {
    status: 200,
    html: layout(
      'Signed out',
      '<p>You are signed out of this gateway. Your connected accounts stay as they are.</p><p><a href="/accounts">Sign in again</a></p>',
    ),
  };
}
