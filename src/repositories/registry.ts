/**
 * Every entity, once: parents before children (`resetAllTables` deletes in
 * the reverse order). The database's resets are derived from this list and
 * the entity descriptors (entity.ts) — adding an entity is one line here.
 */
import { actorTaskEntity } from "./actor-task-repository";
import { contextEntity } from "./context-repository";
import { experimentEntity } from "./experiment-repository";
import { icOperationEntity } from "./ic-operation-repository";
import { pipelineEntity } from "./pipeline-repository";

export const ENTITIES = [experimentEntity, contextEntity, pipelineEntity, actorTaskEntity, icOperationEntity] as const;

type AnyEntity = (typeof ENTITIES)[number];

/** The entities `resetExperimentStates` recovers: those with unfinished statuses. */
export type RecoveredEntity = Extract<AnyEntity, { unfinished: readonly string[] }>;

/** What `resetExperimentStates` returns: rows failed per recovered entity (`{ actorTasks: 3, … }`). */
export type ResetCounts = { [E in RecoveredEntity as E["key"]]: number };
