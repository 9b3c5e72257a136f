import { defineConfig } from "drizzle-kit";

/**
 * drizzle-kit reads this for `generate` (schema → SQL in ./drizzle), `check`
 * and `migrate`. `migrate` targets RF_DB_URL / RF_DB_AUTH_TOKEN, the same
 * variables the package reads, so a deploy can use either drizzle-kit or
 * `rf-db migrate`; both record migrations in the same `__drizzle_migrations` table.
 */
export default defineConfig({
  dialect: "turso",
  schema: "./src/schema/index.ts",
  out: "./drizzle",
  strict: true,
  verbose: true,
  dbCredentials: {
    url: process.env.RF_DB_URL ?? "file:./rapidfire.db",
    authToken: process.env.RF_DB_AUTH_TOKEN,
  },
});
