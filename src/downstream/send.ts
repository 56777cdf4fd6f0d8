// Sends one downstream request: a deadline, a size cap, and no credential across origins.
import { DownstreamError } from '../errors.js';

export interface OutboundRequest {
  url: URL;
  method: string;
  headers: Record<string, string>;
  body?: string;
}

export interface DownstreamResponse {
  status: number;
  /** Only the headers the gateway reasons about; never echoed to the agent. */
  headers: Headers;
  contentType: string;
  /** The body, decoded as text (JSON is parsed by the caller). */
  text: string;
}

export interface SendOptions {
  /** The value of the Authorization header; it goes to the request's own origin and nowhere else. */
  authorization: string;
  timeoutMs: number;
  maxResponseBytes: number;
  fetch?: typeof fetch;
  signal?: AbortSignal;
}

const MAX_REDIRECTS = 3;

export async function sendDownstream(req: OutboundRequest, opts: SendOptions): Promise<DownstreamResponse> {
  const doFetch = opts.fetch ?? fetch;
  const deadline = AbortSignal.timeout(opts.timeoutMs);
  const signal = opts.signal ? AbortSignal.any([deadline, opts.signal]) : deadline;
  const origin = req.url.origin;
  let url = req.url;
  let method = req.method;
  let body = req.body;

  for (let hop = 0; ; hop++) {
    let res: Response;
    try {
      res = await doFetch(url, {
        method,
        headers: { ...req.headers, authorization: opts.authorization },
        body,
        // Redirects are followed here, by hand: fetch would carry the credential to any origin.
        redirect: 'manual',
        signal,
      });
    } catch (err) {
      const timedOut = deadline.aborted;
      throw new DownstreamError(
        timedOut ? `The API did not answer within ${opts.timeoutMs} ms.` : 'The API could not be reached.',
        { reason: timedOut ? 'timeout' : 'network', internal: `${method} ${url.origin}${url.pathname}` },
        { cause: err },
      );
    }

    if (res.status >= 300 && res.status < 400 && res.headers.has('location')) {
      await res.body?.cancel();
      const next = new URL(res.headers.get('location') as string, url);
      if (next.origin !== origin) {
        throw new DownstreamError(
          'The API redirected to another origin; the gateway does not follow it with credentials.',
          {
            status: res.status,
            reason: 'cross_origin_redirect',
            internal: `redirect to ${next.origin}`,
          },
        );
      }
      if (hop >= MAX_REDIRECTS) {
        throw new DownstreamError('The API redirected too many times.', {
          status: res.status,
          reason: 'redirect_loop',
        });
      }
      // 303, and 301/302 after a POST, turn into a GET without a body, as browsers do.
      if (res.status === 303 || ((res.status === 301 || res.status === 302) && method === 'POST')) {
        method = 'GET';
        body = undefined;
      }
      url = next;
      continue;
    }

    let text: string;
    try {
      text = await readCapped(res, opts.maxResponseBytes);
    } catch (err) {
      if (err instanceof DownstreamError) throw err;
      // A body that trickles past the deadline, or a connection cut mid-body, is the API's failure to
      // answer: the same retryable timeout or network error as no answer at all, not an internal error.
      const timedOut = deadline.aborted;
      throw new DownstreamError(
        timedOut
          ? `The API did not finish answering within ${opts.timeoutMs} ms.`
          : 'The connection to the API broke while it answered.',
        { reason: timedOut ? 'timeout' : 'network', internal: `${method} ${url.origin}${url.pathname} (body)` },
        { cause: err },
      );
    }
    return { status: res.status, headers: res.headers, contentType: res.headers.get('content-type') ?? '', text };
  }
}

async function readCapped(res: Response, maxBytes: number): Promise<string> {
  const declared = Number(res.headers.get('content-length') ?? '0');
  if (declared > maxBytes) {
    await res.body?.cancel();
    throw tooLarge(maxBytes);
  }
  if (!res.body) return '';
  const reader = res.body.getReader();
  const chunks: Uint8Array[] = [];
  let size = 0;
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    size += value.byteLength;
    if (size > maxBytes) {
      await reader.cancel();
      throw tooLarge(maxBytes);
    }
    chunks.push(value);
  }
  return Buffer.concat(chunks).toString('utf8');
}

function tooLarge(maxBytes: number): DownstreamError {
  return new DownstreamError(`The API's response is larger than the gateway's limit of ${maxBytes} bytes.`, {
    reason: 'response_too_large',
  });
}
