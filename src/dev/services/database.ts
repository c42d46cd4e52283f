/**
 * The agentrun database on the local PostgreSQL: created if absent, migrations
 * applied (on every `up`), and the `authenticator` login role PostgREST connects
 * as, with its generated password. Idempotent.
 */
import pg from 'pg';
import { migrate } from '../../store/migrate.ts';
import { DATABASE, type StackContext } from '../context.ts';
import { log } from '../proc.ts';
import { secrets } from '../secrets.ts';
import { adminUrl } from './postgres.ts';

export async function prepareDatabase(ctx: StackContext): Promise<void> {
  const admin = new pg.Client({ connectionString: adminUrl(ctx, 'postgres') });
  await admin.connect();
  try {
    const exists = await admin.query('SELECT 1 FROM pg_database WHERE datname = $1', [DATABASE]);
    if (exists.rowCount === 0) await admin.query(`CREATE DATABASE ${DATABASE}`);
  } finally {
    await admin.end();
  }
  const applied = await migrate({ databaseUrl: adminUrl(ctx, DATABASE) });
  if (applied.length > 0) log(`applied migrations: ${applied.join(', ')}`);
  const db = new pg.Client({ connectionString: adminUrl(ctx, DATABASE) });
  await db.connect();
  try {
    const pw = secrets(ctx).authenticatorPassword.replace(/'/g, "''");
    const role = await db.query(`SELECT 1 FROM pg_roles WHERE rolname = 'authenticator'`);
    await db.query(`${role.rowCount === 0 ? 'CREATE' : 'ALTER'} ROLE authenticator LOGIN NOINHERIT PASSWORD '${pw}'`);
    await db.query('GRANT anon, authenticated, service_role TO authenticator');
  } finally {
    await db.end();
  }
}
