// The onboarding session cookie: `__Host-` over https, and why plain http on loopback gets another name.
//
// A `__Host-` cookie must be `Secure`, have `Path=/` and no `Domain` (RFC 6265bis s.4.1.3). Over
// https that is what we send. Over plain http a `Secure` cookie is only accepted where the browser
// counts the origin as potentially trustworthy: Chromium and Firefox do for 127.0.0.1 and
// localhost, Safari did not for years. A cookie that silently fails to stick would make every
// callback look like a different browser, so on an http loopback publicUrl (the demo, stdio
// listeners, `keyward connect`) the cookie is neither `Secure` nor prefixed. It is still HttpOnly
// and SameSite=Lax, and its name carries the port: browsers share cookies between ports of one
// host, and two loopback gateways must not overwrite each other's session. An http publicUrl that
// is not loopback is refused at start-up.
import { isLoopbackUrl } from '../config/schema.js';

export interface CookiePolicy {
  /** The session cookie. */
  name: string;
  /** Binds a sign-in at the identity provider to the browser that started it (login CSRF). */
  signInName: string;
  secure: boolean;
}

export function cookiePolicy(publicUrl: string): CookiePolicy {
  const url = new URL(publicUrl);
  if (url.protocol === 'https:')
    return { name: '__Host-keyward-session', signInName: '__Host-keyward-signin', secure: true };
  if (!isLoopbackUrl(url)) {
    throw new Error(
      `server.publicUrl is ${url.origin}: onboarding pages set a session cookie, which needs https unless the gateway is on loopback`,
    );
  }
  const port = url.port || '80';
  return { name: `keyward-session-${port}`, signInName: `keyward-signin-${port}`, secure: false };
}

export function serializeCookie(
  policy: CookiePolicy,
  value: string,
  maxAgeSeconds: number,
  name: string = policy.name,
): string {
  const parts = [
    `${name}=${value}`,
    'Path=/',
    'HttpOnly',
    'SameSite=Lax',
    `Max-Age=${Math.max(0, Math.floor(maxAgeSeconds))}`,
  ];
  if (policy.secure) parts.push('Secure');
  return parts.join('; ');
}

export function readCookie(header: string | undefined, name: string): string | undefined {
  if (!header) return undefined;
  for (const part of header.split(';')) {
    const eq = part.indexOf('=');
    if (eq < 0) continue;
    if (part.slice(0, eq).trim() === name) return part.slice(eq + 1).trim();
  }
  return undefined;
}
