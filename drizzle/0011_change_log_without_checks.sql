PRAGMA foreign_keys=OFF;--> statement-breakpoint
CREATE TABLE `__new_change_log` (
	`seq` integer PRIMARY KEY NOT NULL,
	`entity` text NOT NULL,
	`row_id` integer NOT NULL,
	`experiment_id` integer,
	`op` text NOT NULL,
	`status` text,
	`deleted_at` integer
);
--> statement-breakpoint
INSERT INTO `__new_change_log`("seq", "entity", "row_id", "experiment_id", "op", "status", "deleted_at") SELECT "seq", "entity", "row_id", "experiment_id", "op", "status", "deleted_at" FROM `change_log`;--> statement-breakpoint
DROP TABLE `change_log`;--> statement-breakpoint
ALTER TABLE `__new_change_log` RENAME TO `change_log`;--> statement-breakpoint
PRAGMA foreign_keys=ON;--> statement-breakpoint
CREATE INDEX `change_log_tombstones_idx` ON `change_log` (`deleted_at`) WHERE "change_log"."op" = 'delete';