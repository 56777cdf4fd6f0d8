// Where reauth errors send the user: the links interface the call path uses, and a holder the composition root binds.
//
// The gateway owns this seam; onboarding implements it. The root (serve, the demo, tests) creates
// the gateway, then builds onboarding from it and binds onboarding's links here, so the gateway
// never imports onboarding and onboarding never changes a built gateway.

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

/** Links whose source is bound after the gateway is built; closing closes the bound source. */
export interface LinkSource extends AuthorizeLinks {
  /** Replaces the source; the previous one is not closed (its owner closes it). */
  bind(links: AuthorizeLinks): void;
}

/** Until onboarding is bound, reauth errors point at the gateway's /connect route. */
export function connectRouteLinks(publicUrl: string): AuthorizeLinks {
  return {
    async authorizeUrl(req) {
      const url = new URL(`/connect/${encodeURIComponent(req.provider)}`, publicUrl);
      if (req.scopes?.length) url.searchParams.set('scope', req.scopes.join(' '));
      return url.toString();
    },
    async close() {},
  };
}

export function createLinkSource(initial: AuthorizeLinks): LinkSource {
  let current = initial;
  return {
    authorizeUrl: (req) => current.authorizeUrl(req),
    close: () => current.close(),
    bind(links) {
      current = links;
    },
  };
}
