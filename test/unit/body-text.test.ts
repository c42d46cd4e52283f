/**
 * Every text field a request body carries into the database refuses U+0000 with a 400's
 * message naming the field (PostgreSQL's text and jsonb cannot hold it; a prompt with one
 * was answered 503 "the database is unavailable", on every retry).
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { adjustBody } from '../../src/api/account-routes.ts';
import { approveBody, createRunBody, messageBody } from '../../src/api/runs-routes.ts';
import { seedCreateBody } from '../../src/api/seed-routes.ts';

describe('text fields of request bodies', () => {
  const cases: [string, { safeParse(v: unknown): { success: boolean; error?: { issues: { path: PropertyKey[]; message: string }[] } } }, Record<string, unknown>, string][] = [
    ['a run\'s prompt', createRunBody(1000), { prompt: 'write_file a.txt x\u0000y' }, 'prompt'],
    ['a seeds create\'s prompt', seedCreateBody(1000), { prompt: 'shell echo \u0000' }, 'prompt'],
    ['a message', messageBody, { text: 'a\u0000' }, 'text'],
    ['an approval\'s comment', approveBody, { approved: true, comment: '\u0000' }, 'comment'],
    ['an operator\'s note', adjustBody, { amount: 5, note: 'grant\u0000' }, 'note'],
  ];
  for (const [what, schema, body, field] of cases) {
    it(`${what} with a NUL is refused, naming the field`, () => {
      const r = schema.safeParse(body);
      assert.equal(r.success, false);
      assert.deepEqual(r.error!.issues.map((i) => [i.path.join('.'), i.message]), [[field, 'must not contain NUL characters (\\u0000)']]);
      const clean = Object.fromEntries(Object.entries(body).map(([k, v]) => [k, typeof v === 'string' ? v.replaceAll('\u0000', '') || 'x' : v]));
      assert.equal(schema.safeParse(clean).success, true, JSON.stringify(clean));
    });
  }
});
