/**
 * Reading SQL text the package wrote itself (CREATE TABLE bodies, INSERT and
 * UPDATE statements): not a parser, just the one split both the schema check
 * and the remote value-size check need.
 */

/**
 * The comma-separated items of `text` outside parentheses and string
 * literals: `a, b(c, d), 'e, f'` → `a`, ` b(c, d)`, ` 'e, f'`. With `end`,
 * stops where it matches outside both (tested on the next 12 characters).
 * @example topLevelItems(`"x" = ?, "y" = f(?, ?) where …`, /^\s(where|returning)\s/i) // 2 items
 */
export function topLevelItems(text: string, end?: RegExp): string[] {
  const items: string[] = [];
  let depth = 0;
  let quoted = false;
  let start = 0;
  for (let i = 0; i < text.length; i++) {
    const c = text[i];
    if (c === "'") quoted = !quoted; // an escaped quote ('') toggles twice
    if (quoted) continue;
    if (depth === 0 && end?.test(text.slice(i, i + 12))) return [...items, text.slice(start, i)];
    if (c === "(") depth++;
    else if (c === ")") depth--;
    else if (c === "," && depth === 0) {
      items.push(text.slice(start, i));
      start = i + 1;
    }
  }
  items.push(text.slice(start));
  return items;
}
