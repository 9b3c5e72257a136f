-- Task counters per experiment, kept by triggers rendered by scripts/task-count-triggers.ts.
-- Do not edit: change src/schema/task-counts.ts, then render a new migration.
DROP TRIGGER IF EXISTS `actor_task_counts_insert`;
--> statement-breakpoint
DROP TRIGGER IF EXISTS `actor_task_counts_status`;
--> statement-breakpoint
DROP TRIGGER IF EXISTS `actor_task_counts_move`;
--> statement-breakpoint
DROP TRIGGER IF EXISTS `actor_task_counts_delete`;
--> statement-breakpoint
CREATE TRIGGER `actor_task_counts_insert` AFTER INSERT ON `actor_tasks`
BEGIN
  INSERT INTO `actor_task_counts` (`experiment_id`, `scheduled`, `in_progress`, `completed`, `failed`) VALUES (NEW.`experiment_id`, NEW.`status` = 'scheduled', NEW.`status` = 'in_progress', NEW.`status` = 'completed', NEW.`status` = 'failed')
    ON CONFLICT (`experiment_id`) DO UPDATE SET `scheduled` = `scheduled` + excluded.`scheduled`, `in_progress` = `in_progress` + excluded.`in_progress`, `completed` = `completed` + excluded.`completed`, `failed` = `failed` + excluded.`failed`;
END;
--> statement-breakpoint
CREATE TRIGGER `actor_task_counts_status` AFTER UPDATE OF `status` ON `actor_tasks`
FOR EACH ROW WHEN NEW.`status` IS NOT OLD.`status` AND NEW.`experiment_id` IS OLD.`experiment_id`
BEGIN
  UPDATE `actor_task_counts` SET `scheduled` = `scheduled` + (NEW.`status` = 'scheduled') - (OLD.`status` = 'scheduled'), `in_progress` = `in_progress` + (NEW.`status` = 'in_progress') - (OLD.`status` = 'in_progress'), `completed` = `completed` + (NEW.`status` = 'completed') - (OLD.`status` = 'completed'), `failed` = `failed` + (NEW.`status` = 'failed') - (OLD.`status` = 'failed') WHERE `experiment_id` = NEW.`experiment_id`;
END;
--> statement-breakpoint
CREATE TRIGGER `actor_task_counts_move` AFTER UPDATE OF `experiment_id` ON `actor_tasks`
FOR EACH ROW WHEN NEW.`experiment_id` IS NOT OLD.`experiment_id`
BEGIN
  UPDATE `actor_task_counts` SET `scheduled` = `scheduled` - (OLD.`status` = 'scheduled'), `in_progress` = `in_progress` - (OLD.`status` = 'in_progress'), `completed` = `completed` - (OLD.`status` = 'completed'), `failed` = `failed` - (OLD.`status` = 'failed') WHERE `experiment_id` = OLD.`experiment_id`;
  INSERT INTO `actor_task_counts` (`experiment_id`, `scheduled`, `in_progress`, `completed`, `failed`) VALUES (NEW.`experiment_id`, NEW.`status` = 'scheduled', NEW.`status` = 'in_progress', NEW.`status` = 'completed', NEW.`status` = 'failed')
    ON CONFLICT (`experiment_id`) DO UPDATE SET `scheduled` = `scheduled` + excluded.`scheduled`, `in_progress` = `in_progress` + excluded.`in_progress`, `completed` = `completed` + excluded.`completed`, `failed` = `failed` + excluded.`failed`;
END;
--> statement-breakpoint
CREATE TRIGGER `actor_task_counts_delete` AFTER DELETE ON `actor_tasks`
BEGIN
  UPDATE `actor_task_counts` SET `scheduled` = `scheduled` - (OLD.`status` = 'scheduled'), `in_progress` = `in_progress` - (OLD.`status` = 'in_progress'), `completed` = `completed` - (OLD.`status` = 'completed'), `failed` = `failed` - (OLD.`status` = 'failed') WHERE `experiment_id` = OLD.`experiment_id`;
END;
--> statement-breakpoint
DELETE FROM `actor_task_counts`;
--> statement-breakpoint
INSERT INTO `actor_task_counts` (`experiment_id`, `scheduled`, `in_progress`, `completed`, `failed`)
  SELECT `experiment_id`, sum(`status` = 'scheduled'), sum(`status` = 'in_progress'), sum(`status` = 'completed'), sum(`status` = 'failed')
  FROM `actor_tasks` GROUP BY `experiment_id`;
