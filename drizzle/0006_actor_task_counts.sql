CREATE TABLE `actor_task_counts` (
	`experiment_id` integer PRIMARY KEY NOT NULL,
	`scheduled` integer DEFAULT 0 NOT NULL,
	`in_progress` integer DEFAULT 0 NOT NULL,
	`completed` integer DEFAULT 0 NOT NULL,
	`failed` integer DEFAULT 0 NOT NULL,
	FOREIGN KEY (`experiment_id`) REFERENCES `experiments`(`experiment_id`) ON UPDATE no action ON DELETE cascade
);
