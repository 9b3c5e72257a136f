/**
 * An embedded replica's calls into libsql are synchronous and unbounded: its
 * open and `sync()` against a primary that accepts the connection and never
 * answers block the event loop for good (RELIABILITY.md, F10). Before each of
 * them the package (web-safe: only fetch) asks the primary — asynchronously, within a deadline —
 * whether it answers at all; a dead or hung primary is then a
 * ConnectionError instead of a frozen process.
 */
import { ConnectionError } from "../errors";

/** The primary's base URL over http(s) (`libsql://` means https). */
function httpUrl(syncUrl: string): string {
  return syncUrl.replace(/^libsql:/i, "https:");
}

/** Resolves when the primary sends any HTTP response within `timeoutMs`; ConnectionError otherwise. */
export async function probePrimary(syncUrl: string, timeoutMs: number): Promise<void> {
  const base = httpUrl(syncUrl);
  try {
    const res = await fetch(new URL("/v2", base), { signal: AbortSignal.timeout(timeoutMs) });
    await res.body?.cancel();
  } catch (cause) {
    const host = new URL(base).host;
    throw new ConnectionError(
      `the embedded replica's primary (${host}) did not answer within ${timeoutMs} ms (requestTimeoutMs); ` +
        "nothing was opened or pulled",
      { cause },
    );
  }
}
