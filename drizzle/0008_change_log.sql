CREATE TABLE `change_log` (
	`seq` integer PRIMARY KEY NOT NULL,
	`entity` text NOT NULL,
	`row_id` integer NOT NULL,
	`experiment_id` integer,
	`op` text NOT NULL,
	`status` text,
	`deleted_at` integer,
	CONSTRAINT "change_log_entity_check" CHECK("change_log"."entity" in ('experiments', 'contexts', 'pipelines', 'actorTasks', 'icOperations')),
	CONSTRAINT "change_log_op_check" CHECK("change_log"."op" in ('insert', 'update', 'delete'))
);
--> statement-breakpoint
CREATE INDEX `change_log_tombstones_idx` ON `change_log` (`deleted_at`) WHERE "change_log"."op" = 'delete';--> statement-breakpoint
CREATE TABLE `change_log_horizon` (
	`id` integer PRIMARY KEY NOT NULL,
	`pruned_through` integer NOT NULL,
	CONSTRAINT "change_log_horizon_single_check" CHECK("change_log_horizon"."id" = 1)
);
--> statement-breakpoint
ALTER TABLE `experiments` ADD `change_seq` integer;--> statement-breakpoint
ALTER TABLE `contexts` ADD `change_seq` integer;--> statement-breakpoint
ALTER TABLE `pipelines` ADD `change_seq` integer;--> statement-breakpoint
ALTER TABLE `actor_tasks` ADD `change_seq` integer;--> statement-breakpoint
ALTER TABLE `interactive_control` ADD `change_seq` integer;