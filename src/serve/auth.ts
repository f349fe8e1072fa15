// API keys, OpenAI's way: `Authorization: Bearer <key>`. With keys configured every /v1 route needs
// one (app.ts); /health stays open but says nothing about models or jobs to a caller without a key.
//
// Keys are compared as SHA-256 digests, every configured key each time, with no early exit: the time a
// check takes does not depend on how much of a key an attacker guessed, nor on which key matched.
// Edge deployments pass their own check (e.g. a key held in a Workers secret) as `createApp({ auth })`.

/** Whether `token` (the bearer token, null when the request has none) may use the API. */
export type Authenticate = (token: string | null, req: Request) => boolean | Promise<boolean>;

/** The bearer token of an Authorization header, or null. */
export function bearerToken(header: string | undefined | null): string | null {
  const m = header ? /^Bearer\s+(\S+)\s*$/i.exec(header) : null;
  return m ? m[1] : null;
}

/** Keys from a list such as an environment variable's value: separated by commas or white space. */
export function parseApiKeys(list: string | undefined | null): string[] {
  return (list ?? '').split(/[\s,]+/).filter((k) => k.length > 0);
}

const enc = new TextEncoder();
const digest = async (s: string) => new Uint8Array(await crypto.subtle.digest('SHA-256', enc.encode(s)));

/** An Authenticate that accepts exactly these keys. */
export function apiKeys(keys: readonly string[]): Authenticate {
  if (keys.length === 0) throw new Error('apiKeys: give at least one key');
  for (const k of keys) if (!/^[\x21-\x7e]+$/.test(k) || k.includes(',')) throw new Error('apiKeys: a key is printable ASCII without spaces or commas');
  const wanted = Promise.all(keys.map(digest));
  return async (token) => {
    if (token === null) return false;
    const got = await digest(token);
    let match = 0;
    for (const w of await wanted) {
      let diff = 0;
      for (let i = 0; i < w.length; i++) diff |= w[i] ^ got[i];
      match |= diff === 0 ? 1 : 0;
    }
    return match === 1;
  };
}
