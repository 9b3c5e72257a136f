/**
 * Ed25519 / EdDSA JWT helpers for testing sqld's JWT auth (the scheme Turso uses), built only on
 * node:crypto.
 *
 * Key file format (`sqld --auth-jwt-key-file`), verified by experiment against sqld 0.24.32
 * (see tests/sqld-harness.test.ts): sqld accepts EITHER
 *   - the Ed25519 public key as PEM, i.e. what Node's `publicKey.export({ type: "spki",
 *     format: "pem" })` produces ("-----BEGIN PUBLIC KEY-----", SPKI DER inside; sqld's --help
 *     calls this "PKCS#8-encoded"), or
 *   - the raw 32 public-key bytes in URL-safe base64 without padding (= the `x` member of the
 *     key's JWK export). This is the format Turso shows in its dashboard.
 * Several keys may be concatenated in one file; sqld tries all of them.
 *
 * Claims sqld understands: `a` ("rw" | "ro" access), `exp`, `iat`, `nbf`; optional `id`
 * (namespace) and `p` (fine-grained permissions), which these tests do not use.
 */
import { generateKeyPairSync, sign, type KeyObject } from "node:crypto";
import { writeFile } from "node:fs/promises";

export interface JwtKeyPair {
  privateKey: KeyObject;
  publicKey: KeyObject;
  /** SPKI PEM ("-----BEGIN PUBLIC KEY-----"), accepted by sqld's --auth-jwt-key-file. */
  publicKeyPem: string;
  /** Raw 32-byte public key, base64url without padding; also accepted by sqld. */
  publicKeyBase64Url: string;
}

export type JwtKeyFormat = "pem" | "base64url";

export function generateJwtKeyPair(): JwtKeyPair {
  const { privateKey, publicKey } = generateKeyPairSync("ed25519");
  const publicKeyPem = publicKey.export({ type: "spki", format: "pem" }).toString();
  const jwk = publicKey.export({ format: "jwk" });
  if (typeof jwk.x !== "string") throw new Error("Ed25519 JWK export has no `x`");
  return { privateKey, publicKey, publicKeyPem, publicKeyBase64Url: jwk.x };
}

/** The text sqld expects in the key file for the given public key and format. */
export function publicKeyFileContents(
  keys: Pick<JwtKeyPair, "publicKeyPem" | "publicKeyBase64Url">,
  format: JwtKeyFormat = "pem",
): string {
  return format === "pem" ? keys.publicKeyPem : keys.publicKeyBase64Url;
}

/** Writes the public key to `path` in a format sqld accepts; returns `path`. */
export async function writePublicKeyFile(
  keys: Pick<JwtKeyPair, "publicKeyPem" | "publicKeyBase64Url">,
  path: string,
  format: JwtKeyFormat = "pem",
): Promise<string> {
  await writeFile(path, publicKeyFileContents(keys, format), { mode: 0o600 });
  return path;
}

export interface JwtClaims {
  /** Access level understood by sqld: "rw" (read-write) or "ro" (read-only). */
  a?: "rw" | "ro";
  iat?: number;
  exp?: number;
  nbf?: number;
  /** Namespace the token is restricted to (sqld/Turso `id` claim). */
  id?: string;
  [claim: string]: unknown;
}

export interface SignJwtOptions {
  /** Lifetime used for the default `exp` when `claims.exp` is absent (default 3600 s). */
  expiresInSeconds?: number;
  /** Override "now" (seconds since epoch) for `iat`/`exp` defaults. */
  nowSeconds?: number;
}

function base64url(data: string | Buffer): string {
  return Buffer.from(data).toString("base64url");
}

/**
 * Signs an EdDSA JWT: header `{"alg":"EdDSA","typ":"JWT"}`, payload `{ a: "rw", iat, exp,
 * ...claims }`. Pass `exp: undefined` explicitly in `claims` to omit the claim.
 */
export function signJwt(privateKey: KeyObject, claims: JwtClaims = {}, options: SignJwtOptions = {}): string {
  const now = options.nowSeconds ?? Math.floor(Date.now() / 1000);
  const payload: JwtClaims = {
    a: "rw",
    iat: now,
    exp: now + (options.expiresInSeconds ?? 3600),
    ...claims,
  };
  for (const key of Object.keys(payload)) {
    if (payload[key] === undefined) delete payload[key];
  }
  const header = base64url(JSON.stringify({ alg: "EdDSA", typ: "JWT" }));
  const body = base64url(JSON.stringify(payload));
  const signingInput = `${header}.${body}`;
  // Ed25519 takes no separate digest: the algorithm argument must be null.
  const signature = sign(null, Buffer.from(signingInput), privateKey);
  return `${signingInput}.${base64url(signature)}`;
}
