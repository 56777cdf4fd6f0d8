// `keyward check`: the config, the tools, and each provider's metadata, as a table.
import { loadConfig } from '../config/load.js';
import { createProviderRegistry } from '../providers/registry.js';
import { loadTools } from '../tools/load.js';

interface Row {
  provider: string;
  strategy: string;
  source: string;
  status: string;
  detail: string;
}

export async function runCheck(opts: { config: string }): Promise<void> {
  const config = await loadConfig(opts.config);
  const tools = await loadTools(config.tools, config.providers);
  console.log(`config  ${config.configPath}: ok`);
  console.log(`tools   ${tools.length} loaded: ${tools.map((t) => t.name).join(', ') || '(none)'}`);
  console.log(`store   ${config.store.replace(/\/\/[^@/]*@/, '//***@')}`);

  const registry = createProviderRegistry(config);
  const rows: Row[] = [];
  let failed = 0;
  for (const name of registry.names()) {
    const runtime = registry.get(name);
    const p = runtime.config;
    const source = p.preset ? `preset ${p.preset}` : p.issuer ? `discovery ${p.issuer}` : 'explicit endpoints';
    try {
      const endpoints = await runtime.endpoints({ signal: AbortSignal.timeout(10_000) });
      const has = [
        endpoints.authorizationEndpoint && 'authorize',
        'token',
        endpoints.revocationEndpoint && 'revoke',
        endpoints.deviceAuthorizationEndpoint && 'device',
        endpoints.jwksUri && 'jwks',
      ].filter(Boolean);
      rows.push({ provider: name, strategy: runtime.strategy, source, status: 'ok', detail: has.join(', ') });
    } catch (err) {
      failed++;
      rows.push({
        provider: name,
        strategy: runtime.strategy,
        source,
        status: 'FAILED',
        detail: err instanceof Error ? err.message : String(err),
      });
    }
  }
  printTable(rows);
  if (failed) {
    console.error(`${failed} provider(s) could not be reached`);
    process.exitCode = 1;
  }
}

function printTable(rows: Row[]): void {
  const head: Row = {
    provider: 'PROVIDER',
    strategy: 'STRATEGY',
    source: 'SOURCE',
    status: 'STATUS',
    detail: 'ENDPOINTS',
  };
  const cols = Object.keys(head) as (keyof Row)[];
  const width = Object.fromEntries(cols.map((c) => [c, Math.max(...[head, ...rows].map((r) => r[c].length))]));
  for (const r of [head, ...rows]) {
    console.log(cols.map((c, i) => (i === cols.length - 1 ? r[c] : r[c].padEnd(width[c] ?? 0))).join('  '));
  }
}
