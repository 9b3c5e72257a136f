-- 0010_drop_change_log_triggers.sql
-- The change-log triggers dropped (re-created by a later migration), by scripts/change-log-triggers.ts --drop.
DROP TRIGGER IF EXISTS `experiments_change_insert`;
--> statement-breakpoint
DROP TRIGGER IF EXISTS `experiments_change_update`;
--> statement-breakpoint
DROP TRIGGER IF EXISTS `experiments_change_delete`;
--> statement-breakpoint
DROP TRIGGER IF EXISTS `experiments_change_rekey`;
--> statement-breakpoint
DROP TRIGGER IF EXISTS `contexts_change_insert`;
--> statement-breakpoint
DROP TRIGGER IF EXISTS `contexts_change_update`;
--> statement-breakpoint
DROP TRIGGER IF EXISTS `contexts_change_delete`;
--> statement-breakpoint
DROP TRIGGER IF EXISTS `contexts_change_rekey`;
--> statement-breakpoint
DROP TRIGGER IF EXISTS `pipelines_change_insert`;
--> statement-breakpoint
DROP TRIGGER IF EXISTS `pipelines_change_update`;
--> statement-breakpoint
DROP TRIGGER IF EXISTS `pipelines_change_delete`;
--> statement-breakpoint
DROP TRIGGER IF EXISTS `pipelines_change_rekey`;
--> statement-breakpoint
DROP TRIGGER IF EXISTS `actor_tasks_change_insert`;
--> statement-breakpoint
DROP TRIGGER IF EXISTS `actor_tasks_change_update`;
--> statement-breakpoint
DROP TRIGGER IF EXISTS `actor_tasks_change_delete`;
--> statement-breakpoint
DROP TRIGGER IF EXISTS `actor_tasks_change_rekey`;
--> statement-breakpoint
DROP TRIGGER IF EXISTS `interactive_control_change_insert`;
--> statement-breakpoint
DROP TRIGGER IF EXISTS `interactive_control_change_update`;
--> statement-breakpoint
DROP TRIGGER IF EXISTS `interactive_control_change_delete`;
--> statement-breakpoint
DROP TRIGGER IF EXISTS `interactive_control_change_rekey`;
