CREATE TABLE `legacy_imports` (
	`import_id` integer PRIMARY KEY AUTOINCREMENT NOT NULL,
	`fingerprint` text NOT NULL,
	`origin` text NOT NULL,
	`source_path` text NOT NULL,
	`schema_version` text NOT NULL,
	`counts` text NOT NULL,
	`created_at` integer DEFAULT (cast(round((julianday('now') - 2440587.5) * 86400000) as integer)) NOT NULL,
	`updated_at` integer DEFAULT (cast(round((julianday('now') - 2440587.5) * 86400000) as integer)) NOT NULL,
	CONSTRAINT "legacy_imports_id_check" CHECK("legacy_imports"."import_id" between 0 and 9007199254740991)
);
--> statement-breakpoint
CREATE UNIQUE INDEX `legacy_imports_fingerprint_idx` ON `legacy_imports` (`fingerprint`);--> statement-breakpoint
CREATE INDEX `legacy_imports_origin_idx` ON `legacy_imports` (`origin`);