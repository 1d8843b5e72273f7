/**
 * What a browser bundler resolves `@parley/storage/postgres` to (the "browser" condition of the
 * exports map): the PostgreSQL backend needs Node (TCP sockets, `pg`), so here it only refuses, and a
 * browser bundle that names it carries no Node built-in. In a browser use `@parley/storage/indexeddb`.
 * @packageDocumentation
 */
import { StorageError } from "./errors.js";
import type { PostgresBackend } from "./postgres.js";

export type { PostgresBackend, PostgresBackendOptions, PostgresConnection } from "./postgres.js";

/** Always rejects with BACKEND_FAILED (whatever the options): PostgreSQL is reachable from Node only. */
export function openPostgresBackend(): Promise<PostgresBackend> {
  return Promise.reject(
    new StorageError(
      "BACKEND_FAILED",
      "the PostgreSQL backend runs in Node only (it needs TCP and pg); in a browser use @parley/storage/indexeddb",
    ),
  );
}
