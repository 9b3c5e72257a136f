/**
 * The progress bar of `rf-db import` (and of bench/import-legacy.ts): one
 * cli-progress bar on stderr, "reading" then "writing" rows, shown only for
 * large sources (a small import finishes before a bar would be worth drawing)
 * and only on a terminal unless `force` says otherwise.
 */
import { SingleBar } from "cli-progress";
import type { ImportProgress } from "../legacy/import";

/** Below this many rows no bar is drawn. */
export const PROGRESS_MIN_ROWS = 10_000;

export interface ProgressBar {
  update(p: ImportProgress): void;
  stop(): void;
}

/**
 * @example const bar = importProgressBar(); await importLegacy(path, db, { onProgress: (p) => bar.update(p) }); bar.stop();
 */
export function importProgressBar(
  options: { enabled?: boolean; force?: boolean; stream?: NodeJS.WriteStream } = {},
): ProgressBar {
  const stream = options.stream ?? process.stderr;
  const enabled = options.enabled !== false && (options.force === true || stream.isTTY === true);
  let bar: SingleBar | undefined;
  let phase: ImportProgress["phase"] | undefined;
  return {
    update(p) {
      if (!enabled || p.total < PROGRESS_MIN_ROWS) return;
      const label = p.phase === "read" ? "reading" : "writing";
      if (!bar) {
        bar = new SingleBar({
          stream,
          format: "  {phase} {bar} {value}/{total} rows  {percentage}%  {duration_formatted}",
          barCompleteChar: "█",
          barIncompleteChar: "░",
          hideCursor: true,
          noTTYOutput: options.force === true,
          notTTYSchedule: 500,
          fps: 10,
        });
        bar.start(p.total, p.done, { phase: label });
      } else if (p.phase !== phase) {
        bar.setTotal(p.total);
        bar.update(p.done, { phase: label });
      } else bar.update(p.done);
      phase = p.phase;
    },
    stop() {
      bar?.stop();
      bar = undefined;
    },
  };
}
