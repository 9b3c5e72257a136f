-- 0012_change_log_triggers_again.sql
-- Change-log triggers, rendered from CHANGE_FEED_TABLES by scripts/change-log-triggers.ts.
-- Do not edit: change the list, then render a new migration.
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
--> statement-breakpoint
CREATE TRIGGER `experiments_change_insert`
AFTER INSERT ON `experiments`
FOR EACH ROW
BEGIN
  INSERT INTO `change_log` (`entity`, `row_id`, `experiment_id`, `op`, `status`, `deleted_at`) VALUES ('experiments', NEW.`experiment_id`, NEW.`experiment_id`, 'insert', NEW.`status`, NULL);
  UPDATE `experiments` SET `change_seq` = last_insert_rowid() WHERE `experiment_id` = NEW.`experiment_id`;
END;
--> statement-breakpoint
CREATE TRIGGER `experiments_change_update`
AFTER UPDATE ON `experiments`
FOR EACH ROW WHEN NEW.`change_seq` IS OLD.`change_seq`
BEGIN
  INSERT INTO `change_log` (`entity`, `row_id`, `experiment_id`, `op`, `status`, `deleted_at`) VALUES ('experiments', NEW.`experiment_id`, NEW.`experiment_id`, 'update', NEW.`status`, NULL);
  DELETE FROM `change_log` WHERE `seq` = OLD.`change_seq` AND `entity` = 'experiments' AND `row_id` = OLD.`experiment_id`;
  UPDATE `experiments` SET `change_seq` = last_insert_rowid() WHERE `experiment_id` = NEW.`experiment_id`;
END;
--> statement-breakpoint
CREATE TRIGGER `experiments_change_delete`
AFTER DELETE ON `experiments`
FOR EACH ROW
BEGIN
  INSERT INTO `change_log` (`entity`, `row_id`, `experiment_id`, `op`, `status`, `deleted_at`) VALUES ('experiments', OLD.`experiment_id`, OLD.`experiment_id`, 'delete', OLD.`status`, (cast(round((julianday('now') - 2440587.5) * 86400000) as integer)));
  DELETE FROM `change_log` WHERE `seq` = OLD.`change_seq` AND `entity` = 'experiments' AND `row_id` = OLD.`experiment_id`;
END;
--> statement-breakpoint
CREATE TRIGGER `experiments_change_rekey`
AFTER UPDATE OF `experiment_id` ON `experiments`
FOR EACH ROW WHEN NEW.`experiment_id` IS NOT OLD.`experiment_id`
BEGIN
  INSERT INTO `change_log` (`entity`, `row_id`, `experiment_id`, `op`, `status`, `deleted_at`) VALUES ('experiments', OLD.`experiment_id`, OLD.`experiment_id`, 'delete', OLD.`status`, (cast(round((julianday('now') - 2440587.5) * 86400000) as integer)));
END;
--> statement-breakpoint
CREATE TRIGGER `contexts_change_insert`
AFTER INSERT ON `contexts`
FOR EACH ROW
BEGIN
  INSERT INTO `change_log` (`entity`, `row_id`, `experiment_id`, `op`, `status`, `deleted_at`) VALUES ('contexts', NEW.`context_id`, NULL, 'insert', NEW.`status`, NULL);
  UPDATE `contexts` SET `change_seq` = last_insert_rowid() WHERE `context_id` = NEW.`context_id`;
END;
--> statement-breakpoint
CREATE TRIGGER `contexts_change_update`
AFTER UPDATE ON `contexts`
FOR EACH ROW WHEN NEW.`change_seq` IS OLD.`change_seq`
BEGIN
  INSERT INTO `change_log` (`entity`, `row_id`, `experiment_id`, `op`, `status`, `deleted_at`) VALUES ('contexts', NEW.`context_id`, NULL, 'update', NEW.`status`, NULL);
  DELETE FROM `change_log` WHERE `seq` = OLD.`change_seq` AND `entity` = 'contexts' AND `row_id` = OLD.`context_id`;
  UPDATE `contexts` SET `change_seq` = last_insert_rowid() WHERE `context_id` = NEW.`context_id`;
END;
--> statement-breakpoint
CREATE TRIGGER `contexts_change_delete`
AFTER DELETE ON `contexts`
FOR EACH ROW
BEGIN
  INSERT INTO `change_log` (`entity`, `row_id`, `experiment_id`, `op`, `status`, `deleted_at`) VALUES ('contexts', OLD.`context_id`, NULL, 'delete', OLD.`status`, (cast(round((julianday('now') - 2440587.5) * 86400000) as integer)));
  DELETE FROM `change_log` WHERE `seq` = OLD.`change_seq` AND `entity` = 'contexts' AND `row_id` = OLD.`context_id`;
END;
--> statement-breakpoint
CREATE TRIGGER `contexts_change_rekey`
AFTER UPDATE OF `context_id` ON `contexts`
FOR EACH ROW WHEN NEW.`context_id` IS NOT OLD.`context_id`
BEGIN
  INSERT INTO `change_log` (`entity`, `row_id`, `experiment_id`, `op`, `status`, `deleted_at`) VALUES ('contexts', OLD.`context_id`, NULL, 'delete', OLD.`status`, (cast(round((julianday('now') - 2440587.5) * 86400000) as integer)));
END;
--> statement-breakpoint
CREATE TRIGGER `pipelines_change_insert`
AFTER INSERT ON `pipelines`
FOR EACH ROW
BEGIN
  INSERT INTO `change_log` (`entity`, `row_id`, `experiment_id`, `op`, `status`, `deleted_at`) VALUES ('pipelines', NEW.`pipeline_id`, NEW.`experiment_id`, 'insert', NEW.`status`, NULL);
  UPDATE `pipelines` SET `change_seq` = last_insert_rowid() WHERE `pipeline_id` = NEW.`pipeline_id`;
END;
--> statement-breakpoint
CREATE TRIGGER `pipelines_change_update`
AFTER UPDATE ON `pipelines`
FOR EACH ROW WHEN NEW.`change_seq` IS OLD.`change_seq`
BEGIN
  INSERT INTO `change_log` (`entity`, `row_id`, `experiment_id`, `op`, `status`, `deleted_at`) VALUES ('pipelines', NEW.`pipeline_id`, NEW.`experiment_id`, 'update', NEW.`status`, NULL);
  DELETE FROM `change_log` WHERE `seq` = OLD.`change_seq` AND `entity` = 'pipelines' AND `row_id` = OLD.`pipeline_id`;
  UPDATE `pipelines` SET `change_seq` = last_insert_rowid() WHERE `pipeline_id` = NEW.`pipeline_id`;
END;
--> statement-breakpoint
CREATE TRIGGER `pipelines_change_delete`
AFTER DELETE ON `pipelines`
FOR EACH ROW
BEGIN
  INSERT INTO `change_log` (`entity`, `row_id`, `experiment_id`, `op`, `status`, `deleted_at`) VALUES ('pipelines', OLD.`pipeline_id`, OLD.`experiment_id`, 'delete', OLD.`status`, (cast(round((julianday('now') - 2440587.5) * 86400000) as integer)));
  DELETE FROM `change_log` WHERE `seq` = OLD.`change_seq` AND `entity` = 'pipelines' AND `row_id` = OLD.`pipeline_id`;
END;
--> statement-breakpoint
CREATE TRIGGER `pipelines_change_rekey`
AFTER UPDATE OF `pipeline_id` ON `pipelines`
FOR EACH ROW WHEN NEW.`pipeline_id` IS NOT OLD.`pipeline_id`
BEGIN
  INSERT INTO `change_log` (`entity`, `row_id`, `experiment_id`, `op`, `status`, `deleted_at`) VALUES ('pipelines', OLD.`pipeline_id`, OLD.`experiment_id`, 'delete', OLD.`status`, (cast(round((julianday('now') - 2440587.5) * 86400000) as integer)));
END;
--> statement-breakpoint
CREATE TRIGGER `actor_tasks_change_insert`
AFTER INSERT ON `actor_tasks`
FOR EACH ROW
BEGIN
  INSERT INTO `change_log` (`entity`, `row_id`, `experiment_id`, `op`, `status`, `deleted_at`) VALUES ('actorTasks', NEW.`task_id`, NEW.`experiment_id`, 'insert', NEW.`status`, NULL);
  UPDATE `actor_tasks` SET `change_seq` = last_insert_rowid() WHERE `task_id` = NEW.`task_id`;
END;
--> statement-breakpoint
CREATE TRIGGER `actor_tasks_change_update`
AFTER UPDATE ON `actor_tasks`
FOR EACH ROW WHEN NEW.`change_seq` IS OLD.`change_seq`
BEGIN
  INSERT INTO `change_log` (`entity`, `row_id`, `experiment_id`, `op`, `status`, `deleted_at`) VALUES ('actorTasks', NEW.`task_id`, NEW.`experiment_id`, 'update', NEW.`status`, NULL);
  DELETE FROM `change_log` WHERE `seq` = OLD.`change_seq` AND `entity` = 'actorTasks' AND `row_id` = OLD.`task_id`;
  UPDATE `actor_tasks` SET `change_seq` = last_insert_rowid() WHERE `task_id` = NEW.`task_id`;
END;
--> statement-breakpoint
CREATE TRIGGER `actor_tasks_change_delete`
AFTER DELETE ON `actor_tasks`
FOR EACH ROW
BEGIN
  INSERT INTO `change_log` (`entity`, `row_id`, `experiment_id`, `op`, `status`, `deleted_at`) VALUES ('actorTasks', OLD.`task_id`, OLD.`experiment_id`, 'delete', OLD.`status`, (cast(round((julianday('now') - 2440587.5) * 86400000) as integer)));
  DELETE FROM `change_log` WHERE `seq` = OLD.`change_seq` AND `entity` = 'actorTasks' AND `row_id` = OLD.`task_id`;
END;
--> statement-breakpoint
CREATE TRIGGER `actor_tasks_change_rekey`
AFTER UPDATE OF `task_id` ON `actor_tasks`
FOR EACH ROW WHEN NEW.`task_id` IS NOT OLD.`task_id`
BEGIN
  INSERT INTO `change_log` (`entity`, `row_id`, `experiment_id`, `op`, `status`, `deleted_at`) VALUES ('actorTasks', OLD.`task_id`, OLD.`experiment_id`, 'delete', OLD.`status`, (cast(round((julianday('now') - 2440587.5) * 86400000) as integer)));
END;
--> statement-breakpoint
CREATE TRIGGER `interactive_control_change_insert`
AFTER INSERT ON `interactive_control`
FOR EACH ROW
BEGIN
  INSERT INTO `change_log` (`entity`, `row_id`, `experiment_id`, `op`, `status`, `deleted_at`) VALUES ('icOperations', NEW.`ic_id`, coalesce(NEW.`experiment_id`, (SELECT `experiment_id` FROM `change_log` WHERE `seq` = NEW.`change_seq`), (SELECT `experiment_id` FROM `pipelines` WHERE `pipeline_id` = NEW.`pipeline_id`)), 'insert', NEW.`status`, NULL);
  UPDATE `interactive_control` SET `change_seq` = last_insert_rowid() WHERE `ic_id` = NEW.`ic_id`;
END;
--> statement-breakpoint
CREATE TRIGGER `interactive_control_change_update`
AFTER UPDATE ON `interactive_control`
FOR EACH ROW WHEN NEW.`change_seq` IS OLD.`change_seq`
BEGIN
  INSERT INTO `change_log` (`entity`, `row_id`, `experiment_id`, `op`, `status`, `deleted_at`) VALUES ('icOperations', NEW.`ic_id`, coalesce(NEW.`experiment_id`, (SELECT `experiment_id` FROM `change_log` WHERE `seq` = NEW.`change_seq`), (SELECT `experiment_id` FROM `pipelines` WHERE `pipeline_id` = NEW.`pipeline_id`)), 'update', NEW.`status`, NULL);
  DELETE FROM `change_log` WHERE `seq` = OLD.`change_seq` AND `entity` = 'icOperations' AND `row_id` = OLD.`ic_id`;
  UPDATE `interactive_control` SET `change_seq` = last_insert_rowid() WHERE `ic_id` = NEW.`ic_id`;
END;
--> statement-breakpoint
CREATE TRIGGER `interactive_control_change_delete`
AFTER DELETE ON `interactive_control`
FOR EACH ROW
BEGIN
  INSERT INTO `change_log` (`entity`, `row_id`, `experiment_id`, `op`, `status`, `deleted_at`) VALUES ('icOperations', OLD.`ic_id`, coalesce(OLD.`experiment_id`, (SELECT `experiment_id` FROM `change_log` WHERE `seq` = OLD.`change_seq`), (SELECT `experiment_id` FROM `pipelines` WHERE `pipeline_id` = OLD.`pipeline_id`)), 'delete', OLD.`status`, (cast(round((julianday('now') - 2440587.5) * 86400000) as integer)));
  DELETE FROM `change_log` WHERE `seq` = OLD.`change_seq` AND `entity` = 'icOperations' AND `row_id` = OLD.`ic_id`;
END;
--> statement-breakpoint
CREATE TRIGGER `interactive_control_change_rekey`
AFTER UPDATE OF `ic_id` ON `interactive_control`
FOR EACH ROW WHEN NEW.`ic_id` IS NOT OLD.`ic_id`
BEGIN
  INSERT INTO `change_log` (`entity`, `row_id`, `experiment_id`, `op`, `status`, `deleted_at`) VALUES ('icOperations', OLD.`ic_id`, coalesce(OLD.`experiment_id`, (SELECT `experiment_id` FROM `change_log` WHERE `seq` = OLD.`change_seq`), (SELECT `experiment_id` FROM `pipelines` WHERE `pipeline_id` = OLD.`pipeline_id`)), 'delete', OLD.`status`, (cast(round((julianday('now') - 2440587.5) * 86400000) as integer)));
END;
--> statement-breakpoint
INSERT OR IGNORE INTO `change_log_horizon` (`id`, `pruned_through`) VALUES (1, 0);
--> statement-breakpoint
UPDATE `experiments` SET `change_seq` = NULL WHERE `change_seq` IS NULL;
--> statement-breakpoint
UPDATE `contexts` SET `change_seq` = NULL WHERE `change_seq` IS NULL;
--> statement-breakpoint
UPDATE `pipelines` SET `change_seq` = NULL WHERE `change_seq` IS NULL;
--> statement-breakpoint
UPDATE `actor_tasks` SET `change_seq` = NULL WHERE `change_seq` IS NULL;
--> statement-breakpoint
UPDATE `interactive_control` SET `change_seq` = NULL WHERE `change_seq` IS NULL;
