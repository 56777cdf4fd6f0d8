// A small cookie jar for driving browser flows with fetch: host-only cookies, path matching, expiry.

interface StoredCookie {
  name: string;
  value: string;
  host: string;
  path: string;
  /** Epoch ms, or Infinity for a session cookie. */
  expires: number;
}

function defaultPath(url: URL): string {
  const p = url.pathname;
  const i = p.lastIndexOf('/');
  return i <= 0 ? '/' : p.slice(0, i);
}

function pathMatches(cookiePath: string, requestPath: string): boolean {
  if (requestPath === cookiePath) return true;
  if (!requestPath.startsWith(cookiePath)) return false;
  return cookiePath.endsWith('/') || requestPath[cookiePath.length] === '/';
}

export class CookieJar {
  private cookies: StoredCookie[] = [];

  /** Stores the Set-Cookie headers of a response received from `url`. */
  store(url: string | URL, res: Response): void {
    const u = new URL(url);
    for (const line of res.headers.getSetCookie()) this.setCookie(u, line);
  }

  setCookie(u: URL, line: string): void {
    const [pair = '', ...attrs] = line.split(';');
    const eq = pair.indexOf('=');
    if (eq <= 0) return;
    const name = pair.slice(0, eq).trim();
    const value = pair.slice(eq + 1).trim();
    let path = defaultPath(u);
    let expires = Number.POSITIVE_INFINITY;
    for (const attr of attrs) {
      const [k = '', ...rest] = attr.split('=');
      const key = k.trim().toLowerCase();
      const v = rest.join('=').trim();
      if (key === 'path' && v.startsWith('/')) path = v;
      else if (key === 'max-age') expires = Date.now() + Number(v) * 1000;
      else if (key === 'expires' && expires === Number.POSITIVE_INFINITY) {
        const t = Date.parse(v);
        if (!Number.isNaN(t)) expires = t;
      }
    }
    this.cookies = this.cookies.filter((c) => !(c.name === name && c.host === u.hostname && c.path === path));
    if (expires > Date.now()) this.cookies.push({ name, value, host: u.hostname, path, expires });
  }

  /** The Cookie header for a request to `url`, or undefined. */
  header(url: string | URL): string | undefined {
    const u = new URL(url);
    const now = Date.now();
    this.cookies = this.cookies.filter((c) => c.expires > now);
    const matching = this.cookies
      .filter((c) => c.host === u.hostname && pathMatches(c.path, u.pathname))
      .sort((a, b) => b.path.length - a.path.length);
    return matching.length ? matching.map((c) => `${c.name}=${c.value}`).join('; ') : undefined;
  }

  get(name: string): string | undefined {
    return this.cookies.find((c) => c.name === name)?.value;
  }

  clear(): void {
    this.cookies = [];
  }

  /** fetch with this jar: sends matching cookies and stores the ones set. Never follows redirects. */
  async fetch(url: string | URL, init: RequestInit = {}): Promise<Response> {
    const headers = new Headers(init.headers);
    const cookie = this.header(url);
    if (cookie) headers.set('cookie', cookie);
    const res = await fetch(url, { ...init, headers, redirect: 'manual' });
    this.store(url, res);
    return res;
  }
}
