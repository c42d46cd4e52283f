/**
 * The two Store adapters against the local stack (pg, and supabase-js through PostgREST),
 * and the lifecycle a store test file gives each: the adapter and a direct pg connection
 * to read the ledger with, opened before its tests and closed after.
 */
import { after, before } from 'node:test';
import { PgStore } from '../../src/store/pg.ts';
import { SupabaseStore } from '../../src/store/supabase.ts';
import type { Store } from '../../src/store/types.ts';
import { stackEnv } from './stack.ts';

const env = stackEnv();

export const STORE_ADAPTERS: [string, () => Store][] = [
  ['postgres (pg)', () => new PgStore({ databaseUrl: env.DATABASE_URL! })],
  ['supabase (supabase-js via PostgREST)', () => new SupabaseStore({ url: env.SUPABASE_URL!, serviceRoleKey: env.SUPABASE_SERVICE_ROLE_KEY! })],
];

/** Inside a describe: opens the adapter and a ledger connection before the tests, hands them over, closes both after. */
export function useStore(make: () => Store, opened: (store: Store, db: PgStore) => void): void {
  let store: Store | undefined;
  let db: PgStore | undefined;
  before(() => {
    store = make();
    db = new PgStore({ databaseUrl: env.DATABASE_URL! });
    opened(store, db);
  });
  after(async () => {
    await store?.close();
    await db?.close();
  });
}
