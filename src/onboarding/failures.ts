// What each refused callback tells the person at the browser: a status, a title and what to do next.
import { errorPage, type Page } from './pages.js';

export type CallbackFailureReason =
  | 'unknown_provider'
  | 'bad_query'
  | 'missing_state'
  | 'unknown_state'
  | 'replayed_state'
  | 'expired_state'
  | 'provider_mismatch'
  | 'session_mismatch'
  | 'different_user'
  | 'access_denied'
  | 'provider_error'
  | 'issuer_mismatch'
  | 'missing_code'
  | 'invalid_grant'
  | 'exchange_failed'
  | 'id_token_invalid'
  | 'user_unconfirmed'
  | 'store_failed';

const RESTART = 'Start again from the link your agent gave you, or ask the agent to retry the call for a new link.';

const FAILURES: Record<CallbackFailureReason, { status: number; title: string; message: string; hint?: string }> = {
  unknown_provider: {
    status: 404,
    title: 'Unknown service',
    message: 'There is no service by that name on this gateway.',
  },
  bad_query: {
    status: 400,
    title: 'This sign-in cannot be finished',
    message: 'The response from the service is malformed.',
    hint: RESTART,
  },
  missing_state: {
    status: 400,
    title: 'This sign-in cannot be finished',
    message: 'The response from the service has no state, so it cannot be matched to a sign-in started here.',
    hint: RESTART,
  },
  unknown_state: {
    status: 400,
    title: 'This sign-in cannot be finished',
    message: 'This response does not belong to any sign-in started here. It may have been forged, or it is too old.',
    hint: RESTART,
  },
  replayed_state: {
    status: 400,
    title: 'This sign-in was already finished',
    message: 'This response was already used once; each sign-in can be finished only once.',
    hint: 'If access is still missing, ask the agent to retry the call for a new link.',
  },
  expired_state: {
    status: 400,
    title: 'This sign-in took too long',
    message: 'The sign-in expired before the service sent you back.',
    hint: RESTART,
  },
  provider_mismatch: {
    status: 400,
    title: 'This sign-in cannot be finished',
    message: 'This response came back for a different service than the one the sign-in was started for.',
    hint: RESTART,
  },
  session_mismatch: {
    status: 403,
    title: 'Finish in the browser you started in',
    message:
      'This sign-in was started in another browser, or your session here ended. For your safety it can only be finished where it began.',
    hint: RESTART,
  },
  different_user: {
    status: 403,
    title: 'Signed in as a different user',
    message:
      'The account that signed in at the service is not the user this link was made for, so nothing was stored. In stdio mode that user is the one Keyward runs as on this computer (server.user, KEYWARD_USER or the OS user).',
    hint: 'Ask the agent to retry for a new link and open it: at the service, choose "Sign in as someone else" (or sign out there first) and sign in as that user. Or ask that user to open the link.',
  },
  access_denied: {
    status: 403,
    title: 'Access was not granted',
    message: 'The request for access was declined, so Keyward stored nothing.',
    hint: 'If you meant to grant access, start again from the link your agent gave you.',
  },
  provider_error: {
    status: 400,
    title: 'The service returned an error',
    message: 'The service could not complete the sign-in.',
    hint: RESTART,
  },
  issuer_mismatch: {
    status: 400,
    title: 'This sign-in cannot be finished',
    message: 'The response names a different authorization server than the one this sign-in was sent to.',
    hint: RESTART,
  },
  missing_code: {
    status: 400,
    title: 'This sign-in cannot be finished',
    message: 'The response from the service has no authorization code.',
    hint: RESTART,
  },
  invalid_grant: {
    status: 400,
    title: 'This sign-in cannot be finished',
    message: 'The service refused the authorization code: it was already used, or it expired.',
    hint: RESTART,
  },
  exchange_failed: {
    status: 502,
    title: 'The service did not answer',
    message: 'The service could not be reached to finish the sign-in.',
    hint: 'Try again in a minute.',
  },
  id_token_invalid: {
    status: 400,
    title: 'This sign-in cannot be finished',
    message: 'The identity the service returned could not be verified.',
    hint: RESTART,
  },
  user_unconfirmed: {
    status: 403,
    title: 'Could not confirm who signed in',
    message:
      'The service did not say which user signed in, so Keyward cannot tell it is the user this link was made for.',
  },
  store_failed: {
    status: 503,
    title: 'Could not save the access',
    message: 'The gateway could not store the grant just now.',
    hint: 'Try again in a minute.',
  },
};

export function failurePage(reason: CallbackFailureReason, detail?: string): Page {
  const f = FAILURES[reason];
  const message = detail ? `${f.message} (${detail})` : f.message;
  return errorPage(f.status, f.title, message, f.hint);
}
