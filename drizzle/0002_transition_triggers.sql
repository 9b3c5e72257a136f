-- Status transition triggers, rendered from the *_TRANSITIONS tables by scripts/transition-triggers.ts.
-- Do not edit: change the tables, then render a new migration.
DROP TRIGGER IF EXISTS `experiments_status_transition`;
--> statement-breakpoint
DROP TRIGGER IF EXISTS `contexts_status_transition`;
--> statement-breakpoint
DROP TRIGGER IF EXISTS `pipelines_status_transition`;
--> statement-breakpoint
DROP TRIGGER IF EXISTS `actor_tasks_status_transition`;
--> statement-breakpoint
DROP TRIGGER IF EXISTS `interactive_control_status_transition`;
--> statement-breakpoint
DROP TRIGGER IF EXISTS `interactive_control_pipeline_insert_not_deleted`;
--> statement-breakpoint
DROP TRIGGER IF EXISTS `interactive_control_pipeline_update_not_deleted`;
--> statement-breakpoint
CREATE TRIGGER `experiments_status_transition`
BEFORE UPDATE OF `status` ON `experiments`
FOR EACH ROW WHEN NEW.`status` <> OLD.`status` AND NEW.`status` IN ('running', 'completed', 'failed', 'cancelled')
  AND OLD.`status` || '>' || NEW.`status` NOT IN ('running>completed', 'running>failed', 'running>cancelled')
BEGIN SELECT RAISE(ABORT, 'rf-inferno-db: refused status change of an experiment (allowed: running->completed|failed|cancelled)'); END;
--> statement-breakpoint
CREATE TRIGGER `contexts_status_transition`
BEFORE UPDATE OF `status` ON `contexts`
FOR EACH ROW WHEN NEW.`status` <> OLD.`status` AND NEW.`status` IN ('pending', 'building', 'ready', 'failed')
  AND OLD.`status` || '>' || NEW.`status` NOT IN ('pending>building', 'pending>ready', 'pending>failed', 'building>ready', 'building>failed', 'failed>building')
BEGIN SELECT RAISE(ABORT, 'rf-inferno-db: refused status change of a context (allowed: pending->building|ready|failed, building->ready|failed, failed->building)'); END;
--> statement-breakpoint
CREATE TRIGGER `pipelines_status_transition`
BEFORE UPDATE OF `status` ON `pipelines`
FOR EACH ROW WHEN NEW.`status` <> OLD.`status` AND NEW.`status` IN ('new', 'ongoing', 'stopped', 'completed', 'failed', 'deleted')
  AND OLD.`status` || '>' || NEW.`status` NOT IN ('new>ongoing', 'new>stopped', 'new>deleted', 'new>failed', 'ongoing>completed', 'ongoing>stopped', 'ongoing>deleted', 'ongoing>failed', 'stopped>ongoing', 'stopped>deleted', 'stopped>failed', 'completed>deleted', 'failed>deleted')
BEGIN SELECT RAISE(ABORT, 'rf-inferno-db: refused status change of a pipeline (allowed: new->ongoing|stopped|deleted|failed, ongoing->completed|stopped|deleted|failed, stopped->ongoing|deleted|failed, completed->deleted, failed->deleted)'); END;
--> statement-breakpoint
CREATE TRIGGER `actor_tasks_status_transition`
BEFORE UPDATE OF `status` ON `actor_tasks`
FOR EACH ROW WHEN NEW.`status` <> OLD.`status` AND NEW.`status` IN ('scheduled', 'in_progress', 'completed', 'failed')
  AND OLD.`status` || '>' || NEW.`status` NOT IN ('scheduled>in_progress', 'scheduled>failed', 'in_progress>completed', 'in_progress>failed', 'in_progress>scheduled')
BEGIN SELECT RAISE(ABORT, 'rf-inferno-db: refused status change of an actor task (allowed: scheduled->in_progress|failed, in_progress->completed|failed|scheduled)'); END;
--> statement-breakpoint
CREATE TRIGGER `interactive_control_status_transition`
BEFORE UPDATE OF `status` ON `interactive_control`
FOR EACH ROW WHEN NEW.`status` <> OLD.`status` AND NEW.`status` IN ('pending', 'processing', 'completed', 'failed', 'cancelled')
  AND OLD.`status` || '>' || NEW.`status` NOT IN ('pending>processing', 'pending>completed', 'pending>cancelled', 'pending>failed', 'processing>completed', 'processing>failed', 'processing>pending')
BEGIN SELECT RAISE(ABORT, 'rf-inferno-db: refused status change of an IC operation (allowed: pending->processing|completed|cancelled|failed, processing->completed|failed|pending)'); END;
--> statement-breakpoint
CREATE TRIGGER `interactive_control_pipeline_insert_not_deleted`
BEFORE INSERT ON `interactive_control`
FOR EACH ROW WHEN NEW.`status` IN ('pending', 'processing')
  AND (SELECT `status` FROM `pipelines` WHERE `pipeline_id` = NEW.`pipeline_id`) = 'deleted'
BEGIN SELECT RAISE(ABORT, 'rf-inferno-db: refused IC operation on a deleted pipeline'); END;
--> statement-breakpoint
CREATE TRIGGER `interactive_control_pipeline_update_not_deleted`
BEFORE UPDATE OF `pipeline_id` ON `interactive_control`
FOR EACH ROW WHEN NEW.`status` IN ('pending', 'processing')
  AND (SELECT `status` FROM `pipelines` WHERE `pipeline_id` = NEW.`pipeline_id`) = 'deleted'
BEGIN SELECT RAISE(ABORT, 'rf-inferno-db: refused IC operation on a deleted pipeline'); END;
