/**
 * The worker and the API check the live schema at start. Against an empty
 * database, or one missing `credit_balances.available_credits` (the column the
 * earlier system died on), or one at an older migration, they refuse to start
 * with one line naming the missing object and the command that fixes it.
 */
import assert from 'node:assert/strict';
import { readdirSync } from 'node:fs';
import { after, before, describe, it } from 'node:test';
import { migrate, MIGRATIONS_DIR } from '../../src/store/migrate.ts';
import { LATEST_MIGRATION, schemaProblems } from '../../src/store/schema.ts';
import { assertRefused, boot } from '../helpers/boot.ts';
import { createDatabase, databaseUrl, dropDatabase, sql } from '../helpers/databases.ts';
import { stackEnv, uniqueQueue } from '../helpers/stack.ts';

const env = stackEnv();

describe('schema checks at start', () => {
  const dbs: string[] = [];
  const newDb = async () => {
    const name = await createDatabase('agentrun_boot');
    dbs.push(name);
    return name;
  };
  let procEnv: Record<string, string>;
  before(() => {
    procEnv = { ...env, TEMPORAL_TASK_QUEUE: uniqueQueue('schema') };
  });
  after(async () => {
    for (const d of dbs) await dropDatabase(d);
  });

  it('LATEST_MIGRATION names the newest migration file', () => {
    const files = readdirSync(MIGRATIONS_DIR).filter((f) => f.endsWith('.sql')).sort();
    assert.equal(`${files.at(-1)!.replace(/\.sql$/, '')}`, LATEST_MIGRATION);
  });

  it('migrate tries a name that does not resolve again (a container network\'s DNS starting up), then fails naming it', async () => {
    const lines: string[] = [];
    const url = databaseUrl('agentrun').replace(/@[^/]+\//, '@agentrun-no-such-host.invalid:5432/');
    await assert.rejects(migrate({ databaseUrl: url, log: (l) => lines.push(l), connectDeadlineMs: 1200 }), /ENOTFOUND agentrun-no-such-host\.invalid/);
    assert.ok(lines.some((l) => /connecting: .*ENOTFOUND.*trying again/.test(l)), lines.join('\n'));
  });

  it('schemaProblems lists missing tables, columns, functions, then an old migration', () => {
    const full = { columns: { credit_balances: ['user_id'] }, functions: [], migration: null };
    const problems = schemaProblems(full);
    assert.ok(problems.includes('table agent_runs is missing'));
    assert.ok(problems.includes('column credit_balances.available_credits is missing'));
    assert.ok(problems.includes('function credit_reserve is missing'));
  });

  for (const component of ['worker', 'api'] as const) {
    it(`${component} refuses an empty database`, async () => {
      const db = await newDb();
      const r = await boot(component, { ...procEnv, DATABASE_URL: databaseUrl(db) });
      assertRefused(r, component, new RegExp(`database PostgreSQL 127\\.0\\.0\\.1:\\d+/${db} is not usable: table agent_runs is missing.*apply the migrations: \\./dev migrate`));
    });

    it(`${component} refuses a database without credit_balances.available_credits`, async () => {
      const db = await newDb();
      await migrate({ databaseUrl: databaseUrl(db) });
      await sql(db, 'ALTER TABLE credit_balances DROP COLUMN available_credits');
      const r = await boot(component, { ...procEnv, DATABASE_URL: databaseUrl(db) });
      assertRefused(r, component, /not usable: column credit_balances\.available_credits is missing — apply the migrations: \.\/dev migrate/);
    });

    it(`${component} refuses a database at an older migration`, async () => {
      const db = await newDb();
      await migrate({ databaseUrl: databaseUrl(db) });
      await sql(db, 'DELETE FROM pgmigrations');
      const r = await boot(component, { ...procEnv, DATABASE_URL: databaseUrl(db) });
      assertRefused(r, component, new RegExp(`database is at migration \\(none\\), the code needs ${LATEST_MIGRATION}`));
    });
  }

  it('refuses an unreachable database and a missing one', async () => {
    assertRefused(await boot('worker', { ...procEnv, DATABASE_URL: 'postgres://x:y@127.0.0.1:1/agentrun' }), 'worker', /PostgreSQL 127\.0\.0\.1:1\/agentrun is unreachable/);
    assertRefused(await boot('api', { ...procEnv, DATABASE_URL: databaseUrl('agentrun_does_not_exist') }), 'api', /database "agentrun_does_not_exist" does not exist/);
  });

  it('with STORE=supabase: passes against the migrated database, refuses a wrong key or URL', async () => {
    const sb = { ...procEnv, STORE: 'supabase' };
    assertRefused(await boot('worker', { ...sb, SUPABASE_SERVICE_ROLE_KEY: 'eyJhbGciOiJIUzI1NiJ9.eyJyb2xlIjoic2VydmljZV9yb2xlIn0.forged' }), 'worker',
      /Supabase http:\/\/127\.0\.0\.1:\d+ rejected the credentials \(check SUPABASE_SERVICE_ROLE_KEY\)/);
    assertRefused(await boot('worker', { ...sb, SUPABASE_URL: `${env.SUPABASE_URL}/elsewhere` }), 'worker', /does not serve PostgREST under \/rest\/v1/);
    assertRefused(await boot('api', { ...sb, SUPABASE_URL: 'http://127.0.0.1:1' }), 'api', /Supabase http:\/\/127\.0\.0\.1:1 is unreachable/);
  });
});
