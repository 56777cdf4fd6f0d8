// Reads mcp.config.json: strict parse, secret references read, relative paths made absolute, defaults filled.
import { readFileSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { ConfigError } from '../errors.js';
import { formatIssues } from './issues.js';
import { decodeEncryptionKey, keyIdOf } from './keys.js';
import { isLoopbackHost, KeywardConfig, type KeywardConfigParsed, SecretRef, STORE_URL } from './schema.js';
import type { EncryptionKey, ResolvedConfig, ResolvedIdentity, ResolvedProvider } from './types.js';

export type Env = Record<string, string | undefined>;

export interface ResolveOptions {
  /** Absolute path of the config file, or '<inline>' (relative paths then resolve against cwd). */
  configPath: string;
  env?: Env;
}

const DEFAULT_ENCRYPTION_KEY = { env: 'KEYWARD_ENCRYPTION_KEY' } as const;
const DEFAULT_STORE = 'sqlite:.keyward/keyward.db';

/** Reads and resolves a config file. Every problem found is thrown at once, as one ConfigError. */
export async function loadConfig(file: string, env: Env = process.env): Promise<ResolvedConfig> {
  const configPath = path.resolve(file);
  let text: string;
  try {
    text = await readFile(configPath, 'utf8');
  } catch (err) {
    throw new ConfigError([`${configPath}: ${readFailure(err, 'config file')}`], configPath);
  }
  const raw = parseJson(text, configPath);
  return resolveConfig(raw, { configPath, env });
}

/** Parses JSON, or throws a ConfigError naming the file, line and column (never the text itself). */
export function parseJson(text: string, file: string): unknown {
  const body = text.charCodeAt(0) === 0xfeff ? text.slice(1) : text;
  try {
    return JSON.parse(body);
  } catch {
    const at = locateJsonError(body);
    throw new ConfigError([`${file}:${at.line}:${at.column}: invalid JSON: ${at.message}`], file);
  }
}

/** Validates a parsed config and resolves it. Sync: secret files are small and read once at start-up. */
export function resolveConfig(raw: unknown, opts: ResolveOptions): ResolvedConfig {
  const env = opts.env ?? process.env;
  const configPath = opts.configPath === '<inline>' ? '<inline>' : path.resolve(opts.configPath);
  const configDir = configPath === '<inline>' ? process.cwd() : path.dirname(configPath);
  const problems: string[] = [];

  const parsed = KeywardConfig.safeParse(raw);
  if (!parsed.success) problems.push(...formatIssues(parsed.error.issues, raw));

  const secrets = new SecretReader(configDir, env, problems);
  // Secret references are checked even when the shape failed, so one run reports everything.
  const source = (parsed.success ? parsed.data : raw) as Partial<KeywardConfigParsed> | undefined;
  const src = isObject(source) ? source : {};

  const current = secrets.key('encryptionKey', src.encryptionKey ?? DEFAULT_ENCRYPTION_KEY);
  const previous = (Array.isArray(src.previousEncryptionKeys) ? src.previousEncryptionKeys : []).map((ref, i) =>
    secrets.key(`previousEncryptionKeys[${i}]`, ref),
  );

  const providers: Record<string, ResolvedProvider> = {};
  for (const [name, p] of Object.entries(isObject(src.providers) ? src.providers : {})) {
    if (!isObject(p)) continue;
    const clientSecret =
      p.clientSecret === undefined ? undefined : secrets.read(`providers.${name}.clientSecret`, p.clientSecret);
    const { clientSecret: _ref, ...rest } = p;
    providers[name] = { ...rest, name, ...(clientSecret !== undefined ? { clientSecret } : {}) };
  }

  // A store URL given by reference is checked like an inline one, once read.
  let storeUrl = typeof src.store === 'string' ? src.store : undefined;
  if (isObject(src.store)) {
    storeUrl = secrets.read('store', src.store);
    if (storeUrl !== undefined && !STORE_URL.test(storeUrl)) {
      problems.push('store: the referenced URL must be sqlite:<path>, redis://…, postgres://… or memory:');
    }
  }

  let introspectionSecret: string | undefined;
  const introspection = isObject(src.identity) ? src.identity.introspection : undefined;
  if (isObject(introspection)) {
    introspectionSecret = secrets.read('identity.introspection.clientSecret', introspection.clientSecret);
  }

  if (problems.length > 0 || !parsed.success) throw new ConfigError(problems, configPath);
  const cfg = parsed.data;

  const publicUrl = (cfg.server.publicUrl ?? `http://${hostForUrl(cfg.server.host)}:${cfg.server.port}`).replace(
    /\/+$/,
    '',
  );
  if (!cfg.server.publicUrl && !isLoopbackHost(cfg.server.host)) {
    // A wildcard or LAN address is no place to send users back to from a provider.
    throw new ConfigError(
      [`server.publicUrl: required when server.host (${cfg.server.host}) is not a loopback address`],
      configPath,
    );
  }
  const server = { ...cfg.server, publicUrl, user: cfg.server.user ?? nonEmpty(env.KEYWARD_USER) ?? localUser(env) };

  let identity: ResolvedIdentity | undefined;
  if (cfg.identity) {
    const { introspection: intro, ...rest } = cfg.identity;
    identity = { ...rest, audience: rest.audience ?? `${publicUrl}/mcp` };
    if (intro) {
      identity.introspection = {
        endpoint: intro.endpoint,
        clientId: intro.clientId,
        clientSecret: introspectionSecret!,
      };
    }
  }

  return {
    configPath,
    configDir,
    server,
    store: resolveFileUrl(storeUrl ?? DEFAULT_STORE, 'sqlite:', configDir),
    encryption: { current: current!, previous: previous as EncryptionKey[] },
    providers,
    tools: cfg.tools.map((p) => path.resolve(configDir, p)),
    ...(identity ? { identity } : {}),
    audit: resolveFileUrl(cfg.audit, 'jsonl:', configDir),
  };
}

/** Reads secret references, recording a problem (never a value) for each one that cannot be read. */
class SecretReader {
  constructor(
    private readonly dir: string,
    private readonly env: Env,
    private readonly problems: string[],
  ) {}

  read(where: string, ref: unknown): string | undefined {
    const r = SecretRef.safeParse(ref);
    // A malformed reference was already reported by the schema.
    if (!r.success) return undefined;
    if ('env' in r.data) {
      const value = this.env[r.data.env];
      if (value === undefined) {
        this.problems.push(`${where}: environment variable ${r.data.env} is not set`);
        return undefined;
      }
      if (value.trim() === '') {
        this.problems.push(`${where}: environment variable ${r.data.env} is empty`);
        return undefined;
      }
      return value;
    }
    const file = path.resolve(this.dir, r.data.file);
    let value: string;
    try {
      value = readFileSync(file, 'utf8');
    } catch (err) {
      this.problems.push(`${where}: ${readFailure(err, 'secret file')} (${file})`);
      return undefined;
    }
    // Secret files are usually written with a trailing newline that is not part of the secret.
    value = value.replace(/\r?\n$/, '');
    if (value.trim() === '') {
      this.problems.push(`${where}: secret file ${file} is empty`);
      return undefined;
    }
    return value;
  }

  key(where: string, ref: unknown): EncryptionKey | undefined {
    const isDefault = where === 'encryptionKey' && isObject(ref) && ref.env === DEFAULT_ENCRYPTION_KEY.env;
    const before = this.problems.length;
    const value = this.read(where, ref);
    if (value === undefined) {
      if (isDefault && this.problems.length > before) {
        this.problems[this.problems.length - 1] += ' (generate a key with `keyward keygen`)';
      }
      return undefined;
    }
    const key = decodeEncryptionKey(value);
    if (!key) {
      this.problems.push(
        `${where}: must be a 32-byte key in base64url or base64 (generate one with \`keyward keygen\`)`,
      );
      return undefined;
    }
    return { kid: keyIdOf(key), key };
  }
}

/** `sqlite:rel/path` -> `sqlite:/abs/path`; other schemes pass through. */
function resolveFileUrl(url: string, scheme: string, dir: string): string {
  if (!url.startsWith(scheme)) return url;
  let rest = url.slice(scheme.length);
  if (rest === ':memory:') return url;
  // Also accept the URL-like spelling `sqlite:///abs/path`.
  if (rest.startsWith('//')) rest = rest.slice(2);
  return `${scheme}${path.resolve(dir, rest)}`;
}

function hostForUrl(host: string): string {
  return host.includes(':') && !host.startsWith('[') ? `[${host}]` : host;
}

function localUser(env: Env): string {
  try {
    return os.userInfo().username;
  } catch {
    // Containers without a passwd entry for the uid.
    return nonEmpty(env.USER) ?? nonEmpty(env.USERNAME) ?? 'local';
  }
}

function nonEmpty(v: string | undefined): string | undefined {
  return v && v.trim() !== '' ? v : undefined;
}

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/** Why a file cannot be read, in words that name neither the path nor anything in it. */
export function readFailure(err: unknown, what: string): string {
  const code = (err as NodeJS.ErrnoException | undefined)?.code;
  switch (code) {
    case 'ENOENT':
      return `${what} not found`;
    case 'EACCES':
    case 'EPERM':
      return `${what} is not readable (permission denied)`;
    case 'EISDIR':
      return `${what} is a directory`;
    default:
      return `cannot read ${what}${code ? ` (${code})` : ''}`;
  }
}

/** Finds where JSON stops being valid: V8's message may quote the text, which could hold a secret. */
export function locateJsonError(text: string): { line: number; column: number; message: string } {
  let i = 0;
  const fail = (message: string): never => {
    throw Object.assign(new Error(message), { at: i });
  };
  const ws = () => {
    while (i < text.length && ' \t\n\r'.includes(text[i]!)) i++;
  };
  /** The items of an object or array, from its opening bracket to `close`. */
  const items = (close: '}' | ']', item: () => void): void => {
    i++;
    ws();
    if (text[i] === close) {
      i++;
      return;
    }
    for (;;) {
      item();
      ws();
      if (text[i] === ',') {
        i++;
        ws();
        if (text[i] === close) fail('trailing comma');
        continue;
      }
      if (text[i] === close) {
        i++;
        return;
      }
      fail(text[i] === undefined ? 'unexpected end of input' : `expected ',' or '${close}'`);
    }
  };
  const member = (): void => {
    ws();
    if (text[i] !== '"')
      fail(text[i] === undefined ? 'unexpected end of input' : 'expected a double-quoted property name');
    string();
    ws();
    if (text[i] !== ':') fail("expected ':' after the property name");
    i++;
    value();
  };
  const value = (): void => {
    ws();
    const c = text[i];
    if (c === undefined) fail('unexpected end of input');
    if (c === '{') items('}', member);
    else if (c === '[') items(']', value);
    else if (c === '"') string();
    else {
      const lit =
        /^(true|false|null|-?(0|[1-9]\d*)(\.\d+)?([eE][+-]?\d+)?)/.exec(text.slice(i, i + 64)) ??
        fail('unexpected character');
      i += lit[0].length;
    }
  };
  const string = () => {
    i++;
    while (i < text.length) {
      const c = text[i]!;
      if (c === '"') {
        i++;
        return;
      }
      if (c === '\\') {
        if (!/^(["\\/bfnrt]|u[0-9a-fA-F]{4})/.test(text.slice(i + 1, i + 6))) fail('invalid escape in string');
        i += text[i + 1] === 'u' ? 6 : 2;
        continue;
      }
      if (c < ' ') fail('control character in string');
      i++;
    }
    fail('unterminated string');
  };
  let message = 'invalid JSON';
  try {
    value();
    ws();
    if (i < text.length) fail('unexpected text after the JSON value');
  } catch (err) {
    message = (err as Error).message;
  }
  const before = text.slice(0, i);
  const line = before.split('\n').length;
  const column = i - before.lastIndexOf('\n');
  return { line, column, message };
}
