// Host and Origin checks for the HTTP transport (DNS rebinding and cross-site requests).
import type { RequestHandler } from 'express';

/** The Host values the gateway answers to: publicUrl's, plus loopback names on its own port. */
export function allowedHostsFor(publicUrl: string, port: number): Set<string> {
  const hosts = new Set<string>([new URL(publicUrl).host]);
  for (const name of ['127.0.0.1', 'localhost', '[::1]']) hosts.add(`${name}:${port}`);
  return hosts;
}

export function hostGuard(allowed: Set<string>): RequestHandler {
  return (req, res, next) => {
    const host = req.headers.host;
    if (!host || !allowed.has(host.toLowerCase())) {
      res.status(403).json({ error: 'forbidden', error_description: 'Host header not allowed' });
      return;
    }
    next();
  };
}

/**
 * The MCP spec requires servers to validate Origin (the SDK checks only Host). Requests with no
 * Origin come from non-browser clients and pass; a browser's cross-site request does not.
 */
export function originGuard(allowedOrigins: Set<string>): RequestHandler {
  return (req, res, next) => {
    const origin = req.headers.origin;
    if (origin !== undefined && !allowedOrigins.has(origin.toLowerCase())) {
      res.status(403).json({
        jsonrpc: '2.0',
        error: { code: -32000, message: 'Forbidden: Origin not allowed' },
        id: null,
      });
      return;
    }
    next();
  };
}

/** Pages and JSON the gateway serves are never framed or sniffed. */
export const securityHeaders: RequestHandler = (_req, res, next) => {
  res.setHeader('X-Frame-Options', 'DENY');
  res.setHeader('Content-Security-Policy', "frame-ancestors 'none'");
  res.setHeader('X-Content-Type-Options', 'nosniff');
  res.setHeader('Referrer-Policy', 'no-referrer');
  next();
};
