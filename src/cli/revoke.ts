// `keyward revoke <provider>`: revoke at the provider (RFC 7009 where it has it) and mark the grant revoked.
import { loadConfig } from '../config/load.js';
import { createGateway } from '../gateway/gateway.js';
import { createLogger } from '../log.js';
import { auditOnboarding } from '../onboarding/audit.js';
import { onboardingDeps } from '../onboarding/deps.js';
import { type CliIo, defaultIo } from './connect.js';

export interface RevokeCommandOptions {
  config: string;
  user?: string;
  tenant?: string;
}

export async function runRevoke(
  provider: string,
  opts: RevokeCommandOptions,
  io: CliIo = defaultIo(),
): Promise<number> {
  const config = await loadConfig(opts.config);
  if (!Object.hasOwn(config.providers, provider)) {
    io.err(`keyward: no provider "${provider}" in ${config.configPath}`);
    return 2;
  }
  const user = opts.user ?? config.server.user;
  const gateway = await createGateway(config, { logger: createLogger({ level: io.env.KEYWARD_LOG_LEVEL ?? 'warn' }) });
  const deps = onboardingDeps(gateway);
  const started = gateway.clock.now();
  try {
    // A second revoke has nothing left to send the provider; say what happened the first time instead.
    const before = (await deps.grants.list({ user, provider })).find((g) => g.tenant === opts.tenant);
    if (before?.status === 'revoked') {
      io.out(
        `${user}'s ${provider} grant was already revoked (${new Date(before.updatedAt).toISOString()}); nothing to do.`,
      );
      return 0;
    }
    const result = await deps.grants.revoke(user, provider, opts.tenant);
    await auditOnboarding(deps, 'onboarding.revoke', {
      provider,
      user,
      tenant: opts.tenant,
      client: 'keyward-cli',
      scopes: result.grant?.scopes,
      outcome: result.found ? 'ok' : 'error',
      reason: result.provider?.detail ?? (result.found ? undefined : 'no_grant'),
      ...(result.grant ? { grantId: result.grant.id } : {}),
      started,
    });
    if (!result.found) {
      io.err(`keyward: ${user} has no ${provider} grant; nothing to revoke`);
      return 1;
    }
    const outcome = result.provider;
    if (outcome?.revoked) {
      io.out(`Revoked ${user}'s ${provider} grant: ${outcome.detail}. It is marked revoked here too.`);
    } else if (outcome && !outcome.supported) {
      io.out(`${provider} has no revocation endpoint (${outcome.detail}).`);
      io.out(`${user}'s ${provider} grant is marked revoked here and will not be used again;`);
      io.out(`to be sure, also remove this app's access in ${provider}'s own settings.`);
    } else {
      io.err(`keyward: ${provider} did not confirm the revocation (${outcome?.detail ?? 'no answer'}).`);
      io.out(`${user}'s ${provider} grant is marked revoked here and will not be used again.`);
    }
    return 0;
  } finally {
    await gateway.close();
  }
}
