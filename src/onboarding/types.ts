// The seam between the call path and onboarding: where to send a user who must grant access.

export interface AuthorizeLinkRequest {
  provider: string;
  user: string;
  tenant?: string;
  client: string;
  /** Scopes to ask for beyond what the grant has (incremental consent). */
  scopes?: string[];
  callId?: string;
}

/**
 * Gives the URL of the gateway's own /connect route for a provider. Over HTTP it hangs off
 * server.publicUrl; over stdio it is a loopback listener started on demand. The URL carries
 * no credential.
 */
export interface AuthorizeLinks {
  authorizeUrl(req: AuthorizeLinkRequest): Promise<string>;
  close(): Promise<void>;
}
