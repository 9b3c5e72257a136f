/** Walking the status machines in tests: the shortest chain of allowed moves between two statuses. */
import type { Transitions } from "../../src/index";

/** The statuses to set one after another to go from `from` to `to` (empty when equal; undefined: unreachable). */
export function pathTo<S extends string>(t: Transitions<S>, from: S, to: S): S[] | undefined {
  const previous = new Map<S, S | null>([[from, null]]);
  const queue: S[] = [from];
  while (queue.length > 0) {
    const s = queue.shift()!;
    if (s === to) {
      const path: S[] = [];
      for (let at: S | null = s; at !== null && at !== from; at = previous.get(at) ?? null) path.unshift(at);
      return path;
    }
    for (const next of t[s])
      if (!previous.has(next)) {
        previous.set(next, s);
        queue.push(next);
      }
  }
  return undefined;
}
