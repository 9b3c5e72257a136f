/**
 * Secrets never reach a stored configuration: before a JSON configuration
 * column is written (a pipeline's `configJson`, `flattenedConfig`,
 * `modelConfig`, `samplingParams`; a context's `ragConfig`, `promptConfig`;
 * an IC operation's `requestData`), every string found under a key that
 * matches the `redactKeys` pattern (the `RFDatabase.open` option, default
 * {@link DEFAULT_REDACT_KEYS}) is replaced by `"***"`, at any depth.
 *
 * "Under" is meant literally: when the key matches, every string inside its
 * value is replaced — `{ api_key: "sk-…" }`, `{ secrets: { a: "…" } }`,
 * `{ tokens: ["…", "…"] }` — while numbers, booleans and null stay (so
 * `max_tokens: 512` survives the default pattern; `tokenizer: "…"`, a string
 * under a key containing "token", does not: pass a narrower pattern if you
 * store tokenizer names). A flattened key (`client_config.api_key`) is
 * matched as a whole, which the default pattern also catches.
 */
import type { InputSpec } from "./input";

/** The default `redactKeys`: API keys, tokens, secrets and passwords, any case. */
export const DEFAULT_REDACT_KEYS = /(api[_-]?key|token|secret|password)/i;

/** What a redacted string becomes. */
export const REDACTED = "***";

const isPlainObject = (x: unknown): x is Record<string, unknown> =>
  typeof x === "object" && x !== null && !Array.isArray(x);

/**
 * `value` with every string under a key matching `pattern` replaced by `"***"`.
 * Copy on write: parts without a match are returned as they are (the same objects).
 * @example redactSecrets({ client_config: { api_key: "sk-1", timeout: 30 } }) // { client_config: { api_key: "***", timeout: 30 } }
 */
export function redactSecrets<T>(value: T, pattern: RegExp = DEFAULT_REDACT_KEYS): T {
  return walk(value, pattern, false) as T;
}

function walk(value: unknown, pattern: RegExp, under: boolean): unknown {
  if (typeof value === "string") return under ? REDACTED : value;
  if (Array.isArray(value)) {
    let out: unknown[] | undefined;
    for (let i = 0; i < value.length; i++) {
      const next = walk(value[i], pattern, under);
      if (next === value[i]) continue;
      out ??= value.slice();
      out[i] = next;
    }
    return out ?? value;
  }
  if (!isPlainObject(value)) return value;
  let changed = false;
  const entries = Object.entries(value).map(([k, v]): [string, unknown] => {
    // String#search ignores (and keeps) lastIndex, so a /g pattern behaves like any other.
    const next = walk(v, pattern, under || k.search(pattern) !== -1);
    if (next !== v) changed = true;
    return [k, next];
  });
  // fromEntries defines own properties: a "__proto__" key stays a key.
  return changed ? Object.fromEntries(entries) : value;
}

/** `values` with every JSON-column field of `spec` redacted (see the module comment). */
export function redactFields<V extends Record<string, unknown>>(
  spec: Pick<InputSpec<never>, "jsonFields">,
  values: V,
  pattern: RegExp | undefined,
): V {
  let out: V | undefined;
  for (const key of spec.jsonFields) {
    const next = redactSecrets(values[key], pattern);
    if (next === values[key]) continue;
    out ??= { ...values };
    out[key as keyof V] = next as V[keyof V];
  }
  return out ?? values;
}
