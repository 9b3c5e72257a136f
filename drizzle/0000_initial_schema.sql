CREATE TABLE `experiments` (
	`experiment_id` integer PRIMARY KEY AUTOINCREMENT NOT NULL,
	`experiment_name` text NOT NULL,
	`num_shards` integer DEFAULT 0 NOT NULL,
	`num_actors` integer NOT NULL,
	`num_cpus` integer,
	`num_gpus` integer,
	`mlflow_experiment_id` text,
	`status` text DEFAULT 'running' NOT NULL,
	`error` text,
	`created_at` integer DEFAULT (cast(unixepoch('subsec') * 1000 as integer)) NOT NULL,
	CONSTRAINT "experiments_status_check" CHECK("experiments"."status" in ('running', 'completed', 'failed', 'cancelled')),
	CONSTRAINT "experiments_counts_check" CHECK("experiments"."num_shards" >= 0 and "experiments"."num_actors" >= 0 and coalesce("experiments"."num_cpus", 0) >= 0 and coalesce("experiments"."num_gpus", 0) >= 0)
);
--> statement-breakpoint
CREATE INDEX `experiments_status_idx` ON `experiments` (`status`,`experiment_id`);--> statement-breakpoint
CREATE INDEX `experiments_name_idx` ON `experiments` (`experiment_name`,`experiment_id`);--> statement-breakpoint
CREATE TABLE `contexts` (
	`context_id` integer PRIMARY KEY AUTOINCREMENT NOT NULL,
	`context_hash` text NOT NULL,
	`rag_config` text,
	`prompt_config` text,
	`status` text DEFAULT 'pending' NOT NULL,
	`started_at` integer,
	`completed_at` integer,
	`duration_seconds` real,
	`error` text,
	`created_at` integer DEFAULT (cast(unixepoch('subsec') * 1000 as integer)) NOT NULL,
	CONSTRAINT "contexts_status_check" CHECK("contexts"."status" in ('pending', 'building', 'ready', 'failed')),
	CONSTRAINT "contexts_duration_check" CHECK("contexts"."duration_seconds" is null or "contexts"."duration_seconds" >= 0)
);
--> statement-breakpoint
CREATE UNIQUE INDEX `contexts_hash_idx` ON `contexts` (`context_hash`);--> statement-breakpoint
CREATE TABLE `pipelines` (
	`pipeline_id` integer PRIMARY KEY AUTOINCREMENT NOT NULL,
	`experiment_id` integer NOT NULL,
	`context_id` integer,
	`pipeline_name` text NOT NULL,
	`pipeline_type` text NOT NULL,
	`model_config` text NOT NULL,
	`sampling_params` text NOT NULL,
	`status` text DEFAULT 'new' NOT NULL,
	`current_shard_id` integer DEFAULT 0 NOT NULL,
	`shards_completed` integer DEFAULT 0 NOT NULL,
	`total_samples_processed` integer DEFAULT 0 NOT NULL,
	`error` text,
	`created_at` integer DEFAULT (cast(unixepoch('subsec') * 1000 as integer)) NOT NULL,
	FOREIGN KEY (`experiment_id`) REFERENCES `experiments`(`experiment_id`) ON UPDATE no action ON DELETE cascade,
	FOREIGN KEY (`context_id`) REFERENCES `contexts`(`context_id`) ON UPDATE no action ON DELETE set null,
	CONSTRAINT "pipelines_status_check" CHECK("pipelines"."status" in ('new', 'ongoing', 'completed', 'stopped', 'deleted', 'failed')),
	CONSTRAINT "pipelines_progress_check" CHECK("pipelines"."current_shard_id" >= 0 and "pipelines"."shards_completed" between 0 and 9007199254740991 and "pipelines"."total_samples_processed" between 0 and 9007199254740991)
);
--> statement-breakpoint
CREATE INDEX `pipelines_experiment_idx` ON `pipelines` (`experiment_id`,`pipeline_id`);--> statement-breakpoint
CREATE INDEX `pipelines_context_idx` ON `pipelines` (`context_id`);--> statement-breakpoint
CREATE TABLE `actor_tasks` (
	`task_id` integer PRIMARY KEY NOT NULL,
	`experiment_id` integer NOT NULL,
	`pipeline_id` integer NOT NULL,
	`actor_id` integer NOT NULL,
	`shard_id` integer NOT NULL,
	`status` text DEFAULT 'scheduled' NOT NULL,
	`error_message` text,
	`started_at` integer,
	`completed_at` integer,
	`duration_seconds` real,
	`created_at` integer DEFAULT (cast(unixepoch('subsec') * 1000 as integer)) NOT NULL,
	FOREIGN KEY (`experiment_id`) REFERENCES `experiments`(`experiment_id`) ON UPDATE no action ON DELETE cascade,
	FOREIGN KEY (`pipeline_id`) REFERENCES `pipelines`(`pipeline_id`) ON UPDATE no action ON DELETE cascade,
	CONSTRAINT "actor_tasks_status_check" CHECK("actor_tasks"."status" in ('scheduled', 'in_progress', 'completed', 'failed')),
	CONSTRAINT "actor_tasks_ids_check" CHECK("actor_tasks"."actor_id" >= 0 and "actor_tasks"."shard_id" >= 0),
	CONSTRAINT "actor_tasks_duration_check" CHECK("actor_tasks"."duration_seconds" is null or "actor_tasks"."duration_seconds" >= 0)
);
--> statement-breakpoint
CREATE INDEX `actor_tasks_experiment_status_idx` ON `actor_tasks` (`experiment_id`,`status`);--> statement-breakpoint
CREATE INDEX `actor_tasks_pipeline_idx` ON `actor_tasks` (`pipeline_id`);--> statement-breakpoint
CREATE TABLE `interactive_control` (
	`ic_id` integer PRIMARY KEY AUTOINCREMENT NOT NULL,
	`pipeline_id` integer,
	`operation` text NOT NULL,
	`status` text DEFAULT 'pending' NOT NULL,
	`request_data` text,
	`error` text,
	`created_at` integer DEFAULT (cast(unixepoch('subsec') * 1000 as integer)) NOT NULL,
	`processed_at` integer,
	FOREIGN KEY (`pipeline_id`) REFERENCES `pipelines`(`pipeline_id`) ON UPDATE no action ON DELETE cascade,
	CONSTRAINT "interactive_control_operation_check" CHECK("interactive_control"."operation" in ('stop', 'resume', 'delete', 'clone')),
	CONSTRAINT "interactive_control_status_check" CHECK("interactive_control"."status" in ('pending', 'processing', 'completed', 'failed')),
	CONSTRAINT "interactive_control_pipeline_check" CHECK("interactive_control"."operation" = 'clone' or "interactive_control"."pipeline_id" is not null)
);
--> statement-breakpoint
CREATE INDEX `interactive_control_status_idx` ON `interactive_control` (`status`,`ic_id`);--> statement-breakpoint
CREATE INDEX `interactive_control_pipeline_idx` ON `interactive_control` (`pipeline_id`);