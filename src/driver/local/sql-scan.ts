/**
 * A tiny SQL scanner, run once per distinct SQL string (when a statement is
 * prepared, never on the hot path). It exists because the native `libsql`
 * binding has sharp edges the local client must steer around:
 *
 * - binding a named-argument object to a statement containing a bare `?`
 *   aborts the whole process (a Rust `unwrap()` panic), so we must know
 *   whether bare `?` parameters exist;
 * - `prepare()` silently ignores everything after the first statement, so
 *   `"UPDATE …; DELETE …"` through `execute()` would drop the DELETE;
 * - cached column metadata must be dropped after schema changes;
 * - `stmt.get()` is much cheaper than `stmt.all()` (BENCHMARKS.md, "Local
 *   driver"), which is only safe for a read that provably yields at most
 *   one row. Never for a write with RETURNING: libsql 0.5's get()/run()
 *   drop the error of the autocommit COMMIT that follows the statement
 *   (SQLITE_FULL, a deferred foreign key …) and report a row that was never
 *   stored (RELIABILITY.md, F8).
 *
 * The scanner understands string literals, quoted identifiers and comments,
 * so keywords/parameters inside them are ignored. Whenever it cannot prove
 * something it answers conservatively (e.g. "may return many rows").
 */

/** What a statement does, judged from its leading keyword (after any `WITH …` prefix). */
export type SqlKind =
  /** SELECT / VALUES (possibly behind a WITH): no side effects, safe to re-run. */
  | "read"
  /** INSERT / REPLACE / UPDATE / DELETE (possibly behind a WITH). */
  | "write"
  /** CREATE / ALTER / DROP / ATTACH / DETACH: cached statement metadata may be stale afterwards. */
  | "schema"
  /** BEGIN / COMMIT / END / ROLLBACK / SAVEPOINT / RELEASE. */
  | "transaction"
  /** PRAGMA, EXPLAIN, VACUUM, ANALYZE, REINDEX, anything unknown. */
  | "other";

export interface SqlInfo {
  kind: SqlKind;
  /** Number of bare `?` parameters (not `?NNN`, `:a`, `@a`, `$a`). */
  anonymousParams: number;
  /** True if any `?NNN`, `:name`, `@name` or `$name` parameter occurs. */
  namedParams: boolean;
  /**
   * Row-count guarantee of a read: 0 = unknown, 1 = at most one row, 2 = at
   * most one row when the last bare `?` is bound to a value <= 1 (a trailing
   * `LIMIT ?`). Always 0 for writes: see the header.
   */
  maxOneRow: 0 | 1 | 2;
  /** True if non-comment text follows the first top-level `;`. */
  multipleStatements: boolean;
  /** True if the text holds no statement at all (only whitespace/comments/`;`). */
  empty: boolean;
}

const enumTok = {
  word: 1,
  param: 2,
  number: 3,
  string: 4,
  ident: 5,
  open: 6,
  close: 7,
  comma: 8,
  semi: 9,
  other: 10,
} as const;
type TokType = (typeof enumTok)[keyof typeof enumTok];

interface Tok {
  t: TokType;
  /** Upper-cased text for words, raw text for numbers, "?" for bare params. */
  v: string;
  depth: number;
}

function isIdentStart(c: number): boolean {
  return (c >= 65 && c <= 90) || (c >= 97 && c <= 122) || c === 95 || c >= 0x80;
}
function isIdentPart(c: number): boolean {
  return isIdentStart(c) || (c >= 48 && c <= 57) || c === 36; /* $ */
}
function isDigit(c: number): boolean {
  return c >= 48 && c <= 57;
}

/**
 * Tokenizes up to the end of the first statement plus enough to know
 * whether another statement follows.
 */
function tokenize(sql: string): { toks: Tok[]; multiple: boolean } {
  const toks: Tok[] = [];
  const n = sql.length;
  let i = 0;
  let depth = 0;
  let ended = false; // a top-level ';' was seen
  while (i < n) {
    const c = sql.charCodeAt(i);
    // whitespace
    if (c === 32 || c === 9 || c === 10 || c === 13 || c === 12 || c === 11) {
      i++;
      continue;
    }
    // -- comment
    if (c === 45 /* - */ && sql.charCodeAt(i + 1) === 45) {
      const nl = sql.indexOf("\n", i + 2);
      i = nl < 0 ? n : nl + 1;
      continue;
    }
    // /* comment */
    if (c === 47 /* / */ && sql.charCodeAt(i + 1) === 42) {
      const end = sql.indexOf("*/", i + 2);
      i = end < 0 ? n : end + 2;
      continue;
    }
    if (ended) {
      if (c === 59) {
        i++;
        continue;
      }
      return { toks, multiple: true };
    }
    // 'string' (also x'..' blobs: the x is lexed as a word first, harmless)
    if (c === 39 /* ' */ || c === 34 /* " */ || c === 96 /* ` */) {
      let j = i + 1;
      for (;;) {
        const k = sql.indexOf(sql[i]!, j);
        if (k < 0) {
          j = n;
          break;
        }
        if (sql.charCodeAt(k + 1) === c) {
          j = k + 2; // doubled quote = escaped quote
          continue;
        }
        j = k + 1;
        break;
      }
      toks.push({ t: c === 39 ? enumTok.string : enumTok.ident, v: "", depth });
      i = j;
      continue;
    }
    // [identifier]
    if (c === 91 /* [ */) {
      const k = sql.indexOf("]", i + 1);
      i = k < 0 ? n : k + 1;
      toks.push({ t: enumTok.ident, v: "", depth });
      continue;
    }
    if (c === 63 /* ? */) {
      let j = i + 1;
      while (j < n && isDigit(sql.charCodeAt(j))) j++;
      toks.push({ t: enumTok.param, v: j === i + 1 ? "?" : sql.slice(i, j), depth });
      i = j;
      continue;
    }
    if ((c === 58 /* : */ || c === 64 /* @ */ || c === 36) /* $ */ && i + 1 < n && isIdentPart(sql.charCodeAt(i + 1))) {
      let j = i + 1;
      while (j < n && isIdentPart(sql.charCodeAt(j))) j++;
      toks.push({ t: enumTok.param, v: sql.slice(i, j), depth });
      i = j;
      continue;
    }
    if (isIdentStart(c)) {
      let j = i + 1;
      while (j < n && isIdentPart(sql.charCodeAt(j))) j++;
      toks.push({ t: enumTok.word, v: sql.slice(i, j).toUpperCase(), depth });
      i = j;
      continue;
    }
    if (isDigit(c) || (c === 46 /* . */ && isDigit(sql.charCodeAt(i + 1)))) {
      let j = i + 1;
      for (;;) {
        const d = sql.charCodeAt(j);
        if (isIdentPart(d) || d === 46) j++;
        else if ((d === 43 || d === 45) && (sql.charCodeAt(j - 1) | 32) === 101 /* e */ && !/x/i.test(sql.slice(i, j)))
          j++;
        else break;
      }
      toks.push({ t: enumTok.number, v: sql.slice(i, j), depth });
      i = j;
      continue;
    }
    if (c === 40) {
      toks.push({ t: enumTok.open, v: "(", depth });
      depth++;
      i++;
      continue;
    }
    if (c === 41) {
      depth = depth > 0 ? depth - 1 : 0;
      toks.push({ t: enumTok.close, v: ")", depth });
      i++;
      continue;
    }
    if (c === 44) {
      toks.push({ t: enumTok.comma, v: ",", depth });
      i++;
      continue;
    }
    if (c === 59 /* ; */) {
      // A ';' inside parentheses cannot end a statement, but one inside
      // CREATE TRIGGER … BEGIN … END can; treat trigger bodies as one unit.
      if (depth === 0 && !insideTriggerBody(toks)) {
        ended = true;
      } else {
        toks.push({ t: enumTok.semi, v: ";", depth });
      }
      i++;
      continue;
    }
    toks.push({ t: enumTok.other, v: sql[i]!, depth });
    i++;
  }
  return { toks, multiple: false };
}

/** `CREATE [TEMP] TRIGGER … BEGIN` without the matching `END` yet. */
function insideTriggerBody(toks: Tok[]): boolean {
  if (toks.length < 2 || toks[0]!.v !== "CREATE") return false;
  let isTrigger = false;
  for (let k = 1; k < Math.min(toks.length, 4); k++)
    if (toks[k]!.t === enumTok.word && toks[k]!.v === "TRIGGER") isTrigger = true;
  if (!isTrigger) return false;
  let open = 0;
  for (const t of toks) {
    if (t.t !== enumTok.word || t.depth !== 0) continue;
    if (t.v === "BEGIN" || t.v === "CASE") open++;
    else if (t.v === "END" && open > 0) open--;
  }
  return open > 0;
}

const DML = new Set(["INSERT", "REPLACE", "UPDATE", "DELETE"]);
const SCHEMA = new Set(["CREATE", "ALTER", "DROP", "ATTACH", "DETACH"]);
const TX = new Set(["BEGIN", "COMMIT", "END", "ROLLBACK", "SAVEPOINT", "RELEASE"]);

/** Scans `sql`; see {@link SqlInfo}. Pure function, O(length of sql). */
export function scanSql(sql: string): SqlInfo {
  const { toks, multiple } = tokenize(sql);
  let anonymousParams = 0;
  let namedParams = false;
  for (const t of toks) {
    if (t.t === enumTok.param) {
      if (t.v === "?") anonymousParams++;
      else namedParams = true;
    }
  }
  const info: SqlInfo = {
    kind: "other",
    anonymousParams,
    namedParams,
    maxOneRow: 0,
    multipleStatements: multiple,
    empty: toks.length === 0,
  };
  const first = toks[0];
  if (!first || first.t !== enumTok.word) return info;

  // The keyword deciding the kind: the first one, or for WITH the first
  // top-level statement keyword after the CTE list (CTE bodies are nested).
  let lead = first.v;
  if (lead === "WITH") {
    lead = "";
    for (let k = 1; k < toks.length; k++) {
      const t = toks[k]!;
      if (t.depth === 0 && t.t === enumTok.word && (t.v === "SELECT" || t.v === "VALUES" || DML.has(t.v))) {
        lead = t.v;
        break;
      }
    }
  }
  if (lead === "SELECT" || lead === "VALUES") info.kind = "read";
  else if (DML.has(lead)) info.kind = "write";
  else if (SCHEMA.has(lead)) info.kind = "schema";
  else if (TX.has(lead)) info.kind = "transaction";

  if (info.kind === "read") {
    // Trailing top-level `LIMIT 0|1` or `LIMIT ?` (the last bare parameter).
    const last = toks[toks.length - 1]!;
    const prev = toks[toks.length - 2];
    if (prev && prev.t === enumTok.word && prev.v === "LIMIT" && prev.depth === 0) {
      if (last.t === enumTok.number && (last.v === "0" || last.v === "1")) info.maxOneRow = 1;
      else if (last.t === enumTok.param && last.v === "?" && !namedParams) info.maxOneRow = 2;
    }
  }
  return info;
}
