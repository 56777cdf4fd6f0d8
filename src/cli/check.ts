// `keyward check`: everything a tool call touches (config, tools, store, identity issuer, each provider's metadata
// and API), each with the cause of its failure; non-zero when anything a call needs is down.
import { randomUUID } from 'node:crypto';
import { loadConfig } from '../config/load.js';
import type { ResolvedConfig } from '../config/types.js';
import { createProviderRegistry } from '../providers/registry.js';
import { loadTools } from '../tools/load.js';

interface Row {
  provider: string;
  strategy: string;
  source: string;
  status: string;
  detail: string;
}

const TIMEOUT_MS = 10_000;

/**
 * An error and its causes in one line, outermost first, with the system codes a person can search for
 * (`discovery failed (transient): fetch failed: connect ECONNREFUSED 127.0.0.1:9`).
 */
export function causeChain(err: unknown): string {
  const parts: string[] = [];
  let e: unknown = err;
  for (let depth = 0; e !== undefined && e !== null && depth < 6; depth += 1) {
    const msg = e instanceof Error ? e.message : String(e);
    const code = (e as { code?: unknown }).code;
    const text = typeof code === 'string' && !msg.includes(code) ? `${msg} (${code})` : msg;
    if (text && !parts.some((p) => p.includes(text))) parts.push(text);
    const next = (e as { cause?: unknown }).cause;
    // AggregateError (a dual-stack connect) keeps its reasons in `errors`.
    e = next ?? (e as { errors?: unknown[] }).errors?.[0];
  }
  return parts.join(': ') || 'unknown error';
}

/** Any HTTP answer means the API is there; only a network failure or a timeout does not. */
async function reachable(url: string): Promise<string> {
  const res = await fetch(url, { method: 'HEAD', redirect: 'manual', signal: AbortSignal.timeout(TIMEOUT_MS) });
  await res.body?.cancel();
  return `answers (HTTP ${res.status})`;
}

async function checkStore(url: string): Promise<string> {
  const { createGrantStore } = await import('../broker/store.js');
  const store = await createGrantStore(url, { opTimeoutMs: 5000 });
  try {
    const key = `check:${randomUUID()}`;
    const value = { at: Date.now() };
    await store.setRecord(key, value, 60_000);
    const back = await store.getRecord<typeof value>(key);
    if (back?.at !== value.at) throw new Error('a record written was not read back');
    await store.deleteRecord(key);
    return 'connect, write, read: ok';
  } finally {
    await store.close();
  }
}

async function checkIssuer(issuer: string): Promise<string> {
  const base = issuer.replace(/\/$/, '');
  const urls = [`${base}/.well-known/oauth-authorization-server`, `${base}/.well-known/openid-configuration`];
  let last: unknown;
  for (const url of urls) {
    try {
      const res = await fetch(url, {
        signal: AbortSignal.timeout(TIMEOUT_MS),
        headers: { accept: 'application/json' },
      });
      if (!res.ok) {
        await res.body?.cancel();
        last = new Error(`${url} answered HTTP ${res.status}`);
        continue;
      }
      const doc = (await res.json()) as { issuer?: unknown };
      if (typeof doc.issuer === 'string' && doc.issuer.replace(/\/$/, '') !== base) {
        throw new Error(`its metadata names another issuer, ${doc.issuer}`);
      }
      return 'metadata ok';
    } catch (err) {
      last = err;
    }
  }
  throw last;
}

export async function runCheck(opts: { config: string }): Promise<void> {
  const config = await loadConfig(opts.config);
  const tools = await loadTools(config.tools, config.providers);
  let failed = 0;
  const line = (label: string, text: string) => console.log(`${label.padEnd(8)}${text}`);
  line('config', `${config.configPath}: ok`);
  line('tools', `${tools.length} loaded: ${tools.map((t) => t.name).join(', ') || '(none)'}`);

  const shownStore = config.store.replace(/\/\/[^@/]*@/, '//***@');
  try {
    line('store', `${shownStore}: ${await checkStore(config.store)}`);
  } catch (err) {
    failed += 1;
    line('store', `${shownStore}: FAILED: ${causeChain(err)}`);
  }

  if (config.identity) {
    try {
      line('inbound', `identity issuer ${config.identity.issuer}: ${await checkIssuer(config.identity.issuer)}`);
    } catch (err) {
      failed += 1;
      line('inbound', `identity issuer ${config.identity.issuer}: FAILED: ${causeChain(err)}`);
    }
  }

  const rows = await providerRows(config);
  failed += rows.filter((r) => r.status !== 'ok').length;
  printTable(rows);
  if (failed) {
    console.error(`${failed} check(s) failed: a tool call that needs them will fail until they are fixed`);
    process.exitCode = 1;
  }
}

async function providerRows(config: ResolvedConfig): Promise<Row[]> {
  const registry = createProviderRegistry(config);
  return Promise.all(
    registry.names().map(async (name): Promise<Row> => {
      const runtime = registry.get(name);
      const p = runtime.config;
      const source = p.preset ? `preset ${p.preset}` : p.issuer ? `discovery ${p.issuer}` : 'explicit endpoints';
      const row = { provider: name, strategy: runtime.strategy, source };
      const problems: string[] = [];
      let has = '';
      try {
        const endpoints = await runtime.endpoints({ signal: AbortSignal.timeout(TIMEOUT_MS) });
        has = [
          endpoints.authorizationEndpoint && 'authorize',
          'token',
          endpoints.revocationEndpoint && 'revoke',
          endpoints.deviceAuthorizationEndpoint && 'device',
          endpoints.jwksUri && 'jwks',
        ]
          .filter(Boolean)
          .join(', ');
      } catch (err) {
        problems.push(`metadata: ${causeChain(err)}`);
      }
      let api = '';
      try {
        api = `api ${await reachable(p.apiBaseUrl)}`;
      } catch (err) {
        problems.push(`api ${p.apiBaseUrl}: unreachable: ${causeChain(err)}`);
      }
      if (problems.length) return { ...row, status: 'FAILED', detail: problems.join('; ') };
      return { ...row, status: 'ok', detail: `${has}; ${api}` };
    }),
  );
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
