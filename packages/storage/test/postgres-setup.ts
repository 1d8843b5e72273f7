/** Global setup of the PostgreSQL suite: one server for the run, its URL in PARLEY_TEST_POSTGRES, stopped by pid at the end. */
import { startPostgres } from "./postgres-server.js";

export default async function setup(): Promise<() => Promise<void>> {
  const server = await startPostgres();
  process.env.PARLEY_TEST_POSTGRES = server.url;
  return () => server.stop();
}
