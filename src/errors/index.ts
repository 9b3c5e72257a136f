/**
 * Errors in one place: the typed errors every public call throws
 * (`classes.ts`), the reading of a driver error's cause chain (`chain.ts`,
 * `sqlite-codes.ts`) and the mapping of driver errors onto the typed ones
 * (`map-driver-error.ts`). Import from here, not from the files.
 * Web-safe: nothing here imports a driver or a Node built-in.
 */
export * from "./classes";
export { causeChain, chainMentions, type Facts, gather, lastMessage, scrub, scrubChain } from "./chain";
export { isLockCode, isLockedError, SQLITE_BASE_CODES, sqliteBaseCode } from "./sqlite-codes";
export { type ErrorContext, mapDriverError } from "./map-driver-error";
export { storageError, storageReason } from "./storage";
