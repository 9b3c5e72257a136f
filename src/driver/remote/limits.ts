/**
 * What a remote server refuses, checked before sending.
 *
 * sqld (0.24, as Turso runs it) builds SQLite with a length limit of
 * 5,000,000 bytes: a bound string or blob longer than that is refused with
 * `ARGS_INVALID … string or blob too big` (measured: 5,000,000 bytes pass,
 * 5,000,001 fail; UTF-8 bytes, not characters), and a row whose record grows
 * past it with `SQLITE_TOOBIG`. Checked here, the caller gets a
 * `ValidationError` naming the limit and the field, and nothing is sent.
 *
 * Cost: one `typeof` and one length comparison per argument; the exact UTF-8
 * length is computed only for strings of more than a third of the limit in
 * characters (a UTF-16 unit is at most 3 UTF-8 bytes).
 */
import type { InArgs, InStatement, InValue } from "@libsql/client";
import { ValidationError } from "../../errors";
import { topLevelItems } from "../../schema/sql-text";

/** sqld's SQLITE_MAX_LENGTH, in bytes. */
export const REMOTE_MAX_VALUE_BYTES = 5_000_000;

const encoder = new TextEncoder();

function byteLength(v: InValue): number {
  if (typeof v === "string") {
    if (v.length * 3 <= REMOTE_MAX_VALUE_BYTES) return 0;
    return v.length > REMOTE_MAX_VALUE_BYTES ? Math.max(v.length, utf8Length(v)) : utf8Length(v);
  }
  if (v instanceof ArrayBuffer) return v.byteLength;
  if (ArrayBuffer.isView(v)) return v.byteLength;
  return 0;
}

function utf8Length(s: string): number {
  return encoder.encode(s).byteLength;
}

/** Throws `ValidationError` when an argument of `stmt` is larger than the server accepts. */
export function checkArgs(sql: string, args: InArgs | undefined): void {
  if (args === undefined) return;
  if (Array.isArray(args)) {
    for (let i = 0; i < args.length; i++) {
      const v = args[i] as InValue;
      if ((typeof v === "string" && v.length * 3 > REMOTE_MAX_VALUE_BYTES) || (typeof v === "object" && v !== null)) {
        const n = byteLength(v);
        if (n > REMOTE_MAX_VALUE_BYTES) throw tooBig(sql, i, undefined, n);
      }
    }
    return;
  }
  for (const [name, v] of Object.entries(args as Record<string, InValue>)) {
    const n = byteLength(v);
    if (n > REMOTE_MAX_VALUE_BYTES) throw tooBig(sql, -1, name, n);
  }
}

/** `checkArgs` for a statement as `execute`/`batch` take it. */
export function checkStatement(stmt: InStatement | [string, InArgs?] | string, args?: InArgs): void {
  if (typeof stmt === "string") checkArgs(stmt, args);
  else if (Array.isArray(stmt)) checkArgs(stmt[0], stmt[1]);
  else checkArgs(stmt.sql, stmt.args);
}

function tooBig(sql: string, index: number, name: string | undefined, bytes: number): ValidationError {
  const column = name ?? columnOfArgument(sql, index);
  const field = column === undefined ? `argument ${index + 1}` : camel(column);
  const mb = (bytes / 1e6).toFixed(2);
  return new ValidationError(
    `${field} is ${bytes} bytes (${mb} MB): the remote server accepts at most ${REMOTE_MAX_VALUE_BYTES} bytes ` +
      `(5 MB) per string or blob value (sqld's length limit); nothing was sent. Store large payloads elsewhere ` +
      "and keep a reference in the database",
    { field },
  );
}

/**
 * The column a positional `?` binds to, read from the SQL Drizzle generates
 * (`insert into "t" ("a", "b") values (?, ?)`, `update "t" set "a" = ?, …`).
 * Only called on the error path; undefined when the shape is not recognised.
 */
export function columnOfArgument(sql: string, index: number): string | undefined {
  const count = (text: string) => (text.match(/\?/g) ?? []).length;
  const insert = /^\s*insert\s+into\s+\S+\s*\(([^)]*)\)\s*values\s*\(/i.exec(sql);
  if (insert) {
    const columns = insert[1]!.split(",").map((c) => c.trim().replace(/^"|"$/g, ""));
    const values = topLevelItems(sql.slice(insert[0].length), /^\)/);
    let seen = 0;
    for (let i = 0; i < values.length && i < columns.length; i++) {
      seen += count(values[i]!);
      if (index < seen) return columns[i];
    }
    return undefined;
  }
  const update = /^\s*update\s+\S+\s+set\s+/i.exec(sql);
  if (update) {
    let seen = 0;
    for (const item of topLevelItems(sql.slice(update[0].length), /^\s(where|returning)\s/i)) {
      seen += count(item);
      const column = /^\s*"([^"]+)"\s*=/.exec(item)?.[1];
      if (index < seen) return column;
    }
  }
  return undefined;
}

/** `config_json` → `configJson`: the repositories' field names are the columns' in camel case. */
function camel(column: string): string {
  return column.replace(/_([a-z0-9])/g, (_, c: string) => c.toUpperCase());
}
