/**
 * The dashboard page's files, served as written (no front-end build step).
 * The build copies them from src/dashboard/ to dist/dashboard/ (tsup.config.ts);
 * `rf-db dashboard` reads them from `../dashboard/` of its own module.
 */
export const ASSET_FILES = ["page.html", "page.js", "actions.js"] as const;

/** The page's files by name, as served. */
export type DashboardAssets = Record<(typeof ASSET_FILES)[number], string>;
