// JSON logs on stderr (stdout belongs to JSON-RPC in stdio mode), with secrets redacted.
import { type DestinationStream, type Logger, pino } from 'pino';

export type { Logger };

/**
 * Field names whose values never reach a log line, wherever they sit. A bare `code` is an error code
 * (`reauth_required`) that operators need, so authorization codes are matched by where they travel:
 * a callback's query, a token request's params or body, or a field that says what it is.
 */
export const REDACTED_PATHS = [
  'token',
  'accessToken',
  'refreshToken',
  'access_token',
  'refresh_token',
  'id_token',
  'authorizationCode',
  'authorization_code',
  'query.code',
  'params.code',
  'body.code',
  'clientSecret',
  'client_secret',
  'authorization',
  'Authorization',
  'password',
  '*.token',
  '*.accessToken',
  '*.refreshToken',
  '*.access_token',
  '*.refresh_token',
  '*.id_token',
  '*.authorizationCode',
  '*.authorization_code',
  '*.query.code',
  '*.params.code',
  '*.body.code',
  '*.clientSecret',
  '*.client_secret',
  '*.authorization',
  '*.Authorization',
  '*.headers.authorization',
  '*.headers.cookie',
  'req.headers.authorization',
  'req.headers.cookie',
];

export function createLogger(opts: { level?: string; destination?: DestinationStream; name?: string } = {}): Logger {
  const level = opts.level ?? process.env.KEYWARD_LOG_LEVEL ?? 'info';
  return pino(
    { name: opts.name ?? 'keyward', level, redact: { paths: REDACTED_PATHS, censor: '[redacted]' } },
    opts.destination ?? pino.destination({ fd: 2, sync: true }),
  );
}
