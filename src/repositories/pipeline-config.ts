/**
 * A pipeline's configuration views, computed the way RapidFire computes them:
 *
 * - `flattenConfig(configJson)` — the control panel's flat view, the same
 *   flattening as upstream's `get_flattened_config_leaf` (rapidfireai
 *   automl utils, called by the 6dd53c1 controller on
 *   `extract_pipeline_config_json`'s output): nested objects become dotted
 *   keys (`sampling_params.temperature`); every other value is a leaf kept
 *   as it is — arrays included, whole, and null; empty objects vanish; the
 *   keys in {@link FLATTEN_SKIPPED_KEYS} and empty keys are left out at every
 *   depth; a later key that flattens to an existing one overwrites its value
 *   (Python's `dict(items)`). A configuration that is not an object
 *   flattens to `{}` (upstream only flattens objects).
 * - `canonicalJson(value)` — RFC 8785 (JSON Canonicalization Scheme):
 *   object keys sorted by UTF-16 code units at every depth, no whitespace,
 *   numbers and strings as ECMAScript's `JSON.stringify` writes them.
 * - `configHash(flat)` — lowercase hex sha256 of the UTF-8 of
 *   `canonicalJson(flat)`: equal for equal configurations whatever their
 *   key order. Computed from the STORED flattened configuration (secrets
 *   already redacted), so `configHash` can be re-checked from the row and
 *   leaks nothing about a secret.
 *
 * Web-safe: WebCrypto (`globalThis.crypto.subtle`), no Node built-in.
 */
import { ValidationError } from "../errors";
import { redactSecrets } from "./redact";

/** Keys upstream's flattening leaves out wherever they occur (functions and paths, not knobs). */
export const FLATTEN_SKIPPED_KEYS: readonly string[] = [
  "compute_metrics",
  "formatting_func",
  "output_dir",
  "logging_dir",
  "reward_funcs",
  "task_type",
  "torch_dtype",
];
const SKIPPED = new Set(FLATTEN_SKIPPED_KEYS);

/** A flattened configuration: dotted keys → leaf values (never an object). */
export type FlatConfig = Record<string, unknown>;

const isPlainObject = (x: unknown): x is Record<string, unknown> =>
  typeof x === "object" && x !== null && !Array.isArray(x);

/**
 * The flat view of a configuration (see the module comment).
 * @example flattenConfig({ model: "m", sampling_params: { temperature: 0.1, stop: ["\n"] } })
 * // { model: "m", "sampling_params.temperature": 0.1, "sampling_params.stop": ["\n"] }
 */
export function flattenConfig(config: unknown): FlatConfig {
  if (!isPlainObject(config)) return {};
  const entries: [string, unknown][] = [];
  const walk = (obj: Record<string, unknown>, prefix: string) => {
    for (const [k, v] of Object.entries(obj)) {
      if (k === "" || SKIPPED.has(k)) continue;
      const key = prefix === "" ? k : `${prefix}.${k}`;
      if (isPlainObject(v)) walk(v, key);
      else entries.push([key, v]);
    }
  };
  walk(config, "");
  // fromEntries: a later duplicate key wins (as Python's dict(items)); "__proto__" stays a key.
  return Object.fromEntries(entries);
}

/** Checks a caller's flattened configuration: an object whose values are not objects. */
export function checkFlatConfig(value: unknown, field = "flattenedConfig"): FlatConfig {
  if (!isPlainObject(value)) throw new ValidationError(`${field} must be an object of dotted keys`, { field });
  for (const [k, v] of Object.entries(value)) {
    if (isPlainObject(v)) {
      throw new ValidationError(
        `${field} must be flat: ${JSON.stringify(k)} holds an object (give configJson to have it flattened)`,
        { field },
      );
    }
  }
  return value;
}

/**
 * RFC 8785 canonical JSON of a JSON value (checked JSON: finite numbers, well-formed strings).
 * @example canonicalJson({ b: 1, a: [true, { d: null, c: "x" }] }) // '{"a":[true,{"c":"x","d":null}],"b":1}'
 */
export function canonicalJson(value: unknown): string {
  if (Array.isArray(value)) return `[${value.map(canonicalJson).join(",")}]`;
  if (isPlainObject(value)) {
    const keys = Object.keys(value).sort(); // default sort: UTF-16 code units, as RFC 8785 orders
    return `{${keys.map((k) => `${JSON.stringify(k)}:${canonicalJson(value[k])}`).join(",")}}`;
  }
  return JSON.stringify(value);
}

/**
 * sha256 (lowercase hex) of the canonical JSON of a flattened configuration.
 * @example await configHash({ model: "m", "sampling_params.temperature": 0.1 }) // "5d1c…" (64 hex digits)
 */
export async function configHash(flat: FlatConfig): Promise<string> {
  const bytes = new TextEncoder().encode(canonicalJson(flat));
  const digest = new Uint8Array(await globalThis.crypto.subtle.digest("SHA-256", bytes));
  let hex = "";
  for (const b of digest) hex += b.toString(16).padStart(2, "0");
  return hex;
}

/**
 * A clone's configuration: `overrides` merged into `base` — objects key by
 * key at every depth, any other value in `overrides` (array, scalar, null)
 * replacing the base's. Upstream merges a clone's edits section by section
 * (`{**parent["model_config"], **edited["model_config"]}` …); this is the
 * same for those sections and keeps going deeper instead of replacing a
 * nested object whole.
 * @example mergeConfig({ sampling_params: { temperature: 0, top_p: 1 } }, { sampling_params: { temperature: 0.9 } })
 * // { sampling_params: { temperature: 0.9, top_p: 1 } }
 */
export function mergeConfig(base: unknown, overrides: unknown): unknown {
  if (!isPlainObject(base) || !isPlainObject(overrides)) return overrides;
  const out = new Map<string, unknown>(Object.entries(base));
  for (const [k, v] of Object.entries(overrides)) out.set(k, out.has(k) ? mergeConfig(out.get(k), v) : v);
  return Object.fromEntries(out);
}

/** The stored configuration views of a pipeline: `configJson` and `flattenedConfig` redacted, the hash derived. */
export async function configViews(
  configJson: unknown,
  flattenedConfig: unknown,
  redactKeys: RegExp | undefined,
): Promise<{ configJson: unknown; flattenedConfig: unknown; configHash: string | null }> {
  const json = redactSecrets(configJson, redactKeys);
  const flat =
    flattenedConfig !== null
      ? redactSecrets(checkFlatConfig(flattenedConfig), redactKeys)
      : json === null
        ? null
        : flattenConfig(json);
  return { configJson: json, flattenedConfig: flat, configHash: flat === null ? null : await configHash(flat) };
}
