/**
 * The cause chain of an error — the error, its `cause`, that one's `cause` …
 * — read in one place. A driver error arrives wrapped (Drizzle's
 * DrizzleQueryError around a LibsqlError around a hrana or HTTP error), and
 * what matters (the SQLite code, the HTTP status, the server's words, a
 * secret that must not leak) can sit on any link. Everything that looks past
 * the outermost error goes through {@link causeChain}.
 */

/** Links read at most: enough for any real wrapping, and a cyclic `cause` cannot loop. */
const MAX_LINKS = 8;

/**
 * The links of `err`'s cause chain, outermost first. A falsy link ends the
 * chain; a link that is not an object (a thrown string) is kept and ends it.
 */
export function causeChain(err: unknown): unknown[] {
  const links: unknown[] = [];
  let cur: unknown = err;
  while (cur && links.length < MAX_LINKS) {
    links.push(cur);
    if (typeof cur !== "object") break;
    cur = (cur as { cause?: unknown }).cause;
  }
  return links;
}

/** What the whole cause chain of an error says: its codes, its messages joined, an HTTP status. */
export interface Facts {
  codes: string[];
  text: string;
  status: number | undefined;
}

export function gather(err: unknown): Facts {
  const codes: string[] = [];
  const texts: string[] = [];
  let status: number | undefined;
  for (const link of causeChain(err)) {
    if (typeof link !== "object") {
      texts.push(String(link));
      continue;
    }
    const e = link as { code?: unknown; extendedCode?: unknown; message?: unknown; status?: unknown };
    if (typeof e.code === "string") codes.push(e.code);
    if (typeof e.extendedCode === "string") codes.push(e.extendedCode);
    if (typeof e.message === "string") texts.push(e.message);
    if (typeof e.status === "number") status ??= e.status;
  }
  return { codes, text: texts.join(" | "), status };
}

/** The innermost message: the driver's own words, without Drizzle's "Failed query: …" prefix. */
export function lastMessage(err: unknown): string {
  let msg = "";
  for (const link of causeChain(err)) {
    if (typeof link !== "object") return String(link);
    const m = (link as { message?: unknown }).message;
    if (typeof m === "string" && m) msg = m;
  }
  return msg || String(err);
}

/** Replaces the secret (and its URL-encoded form) wherever it occurs. */
export function scrub(text: string, secret: string | undefined): string {
  if (!secret || secret.length < 4) return text;
  return text.split(secret).join("[redacted]").split(encodeURIComponent(secret)).join("[redacted]");
}

/** True when a message or stack anywhere in the chain contains `secret`. */
export function chainMentions(err: unknown, secret: string): boolean {
  return causeChain(err).some((link) => {
    if (typeof link !== "object") return String(link).includes(secret);
    const e = link as { message?: unknown; stack?: unknown };
    return (
      (typeof e.message === "string" && e.message.includes(secret)) ||
      (typeof e.stack === "string" && e.stack.includes(secret))
    );
  });
}

/**
 * A copy of the cause chain with the secret scrubbed out of every message and
 * stack (name and code kept). The copy ends where {@link causeChain} ends.
 */
export function scrubChain(err: unknown, secret: string): unknown {
  let copy: unknown;
  const links = causeChain(err);
  for (let i = links.length - 1; i >= 0; i--) {
    const link = links[i];
    if (typeof link !== "object") {
      copy = typeof link === "string" ? scrub(link, secret) : link;
      continue;
    }
    const e = link as Error & { code?: unknown; cause?: unknown };
    const c = new Error(scrub(String(e.message ?? ""), secret));
    c.name = e.name;
    if (typeof e.stack === "string") c.stack = scrub(e.stack, secret);
    if (e.code !== undefined) (c as { code?: unknown }).code = e.code;
    if (i < links.length - 1) (c as { cause?: unknown }).cause = copy;
    else if (e.cause !== undefined && !e.cause) (c as { cause?: unknown }).cause = e.cause;
    copy = c;
  }
  return links.length === 0 ? err : copy;
}
