export * from "./base-repository";
export * from "./experiment-repository";
export * from "./context-repository";
export * from "./pipeline-repository";
export * from "./actor-task-repository";
export * from "./ic-operation-repository";
