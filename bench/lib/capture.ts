import type { Client, InArgs, InStatement } from "@libsql/client";

export interface Captured {
  sql: string;
  args: unknown[];
  /** Index of the client call it belonged to, and whether that call was a batch. */
  call: number;
  batch: boolean;
  /** Rows it wrote (`rowsAffected`), once its call returned. */
  rowsAffected?: number;
}

function norm(s: InStatement | [string, InArgs?]): { sql: string; args: unknown[] } {
  if (typeof s === "string") return { sql: s, args: [] };
  if (Array.isArray(s)) return { sql: s[0], args: (s[1] ?? []) as unknown[] };
  return { sql: s.sql, args: (s.args ?? []) as unknown[] };
}

/** Runs `fn` and returns every statement it sent through `client` (execute and batch), in order. */
export async function captureStatements(
  client: Client,
  fn: () => Promise<unknown>,
): Promise<{ statements: Captured[]; calls: number; error?: unknown }> {
  const out: Captured[] = [];
  let calls = 0;
  const c = client as unknown as Record<string, unknown>;
  const execute = client.execute.bind(client);
  const batch = client.batch.bind(client);
  let last: { sql: string; args: unknown } | undefined;
  c.execute = (stmt: InStatement, args?: InArgs) => {
    if (typeof stmt === "string") {
      // A client may re-dispatch a deferred call to itself as execute(sql, args) (the local
      // client does after yielding to the event loop): the same strings/objects again, not a new call.
      if (!(last && last.sql === stmt && last.args === args))
        out.push({ sql: stmt, args: (args ?? []) as unknown[], call: calls++, batch: false });
      return execute(stmt, args);
    }
    last = { sql: stmt.sql, args: stmt.args };
    const captured: Captured = { ...norm(stmt), call: calls++, batch: false };
    out.push(captured);
    return execute(stmt).then((rs) => {
      captured.rowsAffected = rs.rowsAffected;
      return rs;
    });
  };
  c.batch = (stmts: Array<InStatement | [string, InArgs?]>, mode?: Parameters<Client["batch"]>[1]) => {
    const call = calls++;
    const captured = stmts.map((s): Captured => ({ ...norm(s), call, batch: true }));
    out.push(...captured);
    return batch(stmts, mode).then((rss) => {
      rss.forEach((rs, i) => {
        captured[i]!.rowsAffected = rs.rowsAffected;
      });
      return rss;
    });
  };
  try {
    await fn();
    return { statements: out, calls };
  } catch (error) {
    return { statements: out, calls, error };
  } finally {
    delete c.execute;
    delete c.batch;
  }
}
