// How onboarding answers browsers: pages that are never framed, cached or scripted, and redirects that leak no referrer.
import type { Response } from 'express';
import type { Page } from './pages.js';

// Pages are never framed, never cached, and run no script.
const PAGE_HEADERS = {
  'Content-Type': 'text/html; charset=utf-8',
  'Cache-Control': 'no-store',
  'X-Frame-Options': 'DENY',
  'Content-Security-Policy': "default-src 'none'; style-src 'unsafe-inline'; base-uri 'none'; frame-ancestors 'none'",
  'X-Content-Type-Options': 'nosniff',
  'Referrer-Policy': 'no-referrer',
} as const;

export function sendPage(res: Response, page: Page): void {
  res.status(page.status).set(PAGE_HEADERS).send(page.html);
}

export function redirect(res: Response, location: string, status = 302): void {
  res.status(status).set({ 'Cache-Control': 'no-store', 'Referrer-Policy': 'no-referrer' }).location(location).end();
}
