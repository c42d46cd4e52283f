/**
 * Throwaway databases on the stack's PostgreSQL server, for tests of what a process does
 * with a given schema (empty, outdated, missing a column): created with a random name,
 * reached with the stack's credentials, dropped (WITH FORCE) when the test is done.
 */
import { randomBytes } from 'node:crypto';
import pg from 'pg';
import { stackEnv } from './stack.ts';

/** The stack's DATABASE_URL, pointed at database `name`. */
export const databaseUrl = (name: string) => stackEnv().DATABASE_URL!.replace(/\/[^/]+$/, `/${name}`);

/** Runs one statement in database `name`. */
export async function sql(name: string, text: string): Promise<void> {
  const c = new pg.Client({ connectionString: databaseUrl(name) });
  await c.connect();
  try {
    await c.query(text);
  } finally {
    await c.end();
  }
}

/** A new empty database named `<prefix>_<random>`; returns its name. */
export async function createDatabase(prefix: string): Promise<string> {
  const name = `${prefix}_${randomBytes(4).toString('hex')}`;
  await sql('postgres', `CREATE DATABASE ${name}`);
  return name;
}

export async function dropDatabase(name: string): Promise<void> {
  await sql('postgres', `DROP DATABASE IF EXISTS ${name} WITH (FORCE)`);
}
