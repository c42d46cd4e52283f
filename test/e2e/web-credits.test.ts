/**
 * Credits on the web page and at an approval, against the real API and worker: extra
 * credits on an approval apply only at a budget wait, so the API refuses them at a plan
 * approval (409 `extra_credits_not_applicable`, nothing recorded or signalled) and the
 * page asks for them only at a budget wait. In real Chromium: a run out of budget is
 * approved from the page with extra credits, which extend its reservation (ledger), and it
 * completes; the run's usage shows credits, tokens (a model's, from the local fake
 * Anthropic) and the budget reserved and left; the header's balance is read again when the
 * run ends. One screenshot per scenario under .data/test-artifacts/.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type { RunState } from '../../src/shared/run.ts';
import { statusQuery } from '../../src/workflows/definitions.ts';
import { apiFetch } from '../helpers/auth.ts';
import { FakeAnthropic, toolUse } from '../helpers/fake-anthropic.ts';
import { collect, parse } from '../helpers/runs.ts';
import { connectClients, newUser, stackEnv, startApi, startWorker, stop, uniqueQueue, waitUntil } from '../helpers/stack.ts';
import type { Clients, Proc } from '../helpers/stack.ts';
import { browserSkip, logText, runStatus, shot, startFromForm, WebHarness } from '../helpers/web-page.ts';

const post = (url: string, body: unknown) => apiFetch(url, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) });
const stateOf = (c: Clients, id: string): Promise<RunState> => c.temporal.workflow.getHandle(id).query(statusQuery);
const ledgerOf = async (c: Clients, runId: string) =>
  (await c.store.query<{ kind: string; amount: string; note: string | null; tokens: string }>(
    'SELECT kind, amount, note, tokens FROM credit_ledger WHERE run_id = $1 ORDER BY id', [runId])).rows;

describe('extra credits on an approval (real API and worker)', () => {
  let c: Clients;
  let user: string;
  let worker: Proc | undefined;
  let api: (Proc & { url: string }) | undefined;

  before(async () => {
    c = await connectClients();
    user = await newUser(c, 1000, 'extra');
    const env = { ...stackEnv(), TEMPORAL_TASK_QUEUE: uniqueQueue('extra'), DEFAULT_USER_ID: user };
    [worker, api] = await Promise.all([startWorker(env), startApi(env)]);
  });
  after(async () => {
    await Promise.all([stop(api), stop(worker)]);
    await c?.close();
  });

  it('are refused at a plan approval with 409 extra_credits_not_applicable, nothing recorded; the approval without them goes through', async () => {
    const res = await post(`${api!.url}/v1/runs`, { prompt: 'write_file plan.txt ok', requireApproval: true });
    const { id } = (await res.json()) as { id: string };
    assert.equal(res.status, 202);
    await waitUntil('plan approval', async () => (await stateOf(c, id)).waitingFor?.kind === 'approval', 60_000);
    const refused = await post(`${api!.url}/v1/runs/${id}/approve`, { approved: true, extraCredits: 5 });
    const body = (await refused.json()) as { error: { code: string; message: string } };
    assert.equal(refused.status, 409);
    assert.equal(body.error.code, 'extra_credits_not_applicable');
    assert.match(body.error.message, /extraCredits apply when run run_\w+ waits for budget; it waits for approval of its plan/);
    assert.deepEqual(await c.store.listAudit(id), [], 'a refused control is not audited');
    assert.equal((await stateOf(c, id)).status, 'awaiting_approval', 'still waiting');
    const ok = await post(`${api!.url}/v1/runs/${id}/approve`, { approved: true, comment: 'fine' });
    assert.equal(ok.status, 202);
    const events = await collect(api!.url, id);
    assert.equal(parse(events.at(-1)!).status, 'completed');
    assert.deepEqual((await ledgerOf(c, id)).filter((r) => r.note === 'extension'), [], 'no extension');
  });
});

describe('credits on the web page in Chromium', { skip: browserSkip() }, () => {
  const w = new WebHarness();
  before(() => w.start('web-credits', 1000));
  after(() => w.close());

  it('a run out of budget is approved from the page with extra credits: its reservation grows by them, it completes, the header shows the new balance', async () => {
    const page = await w.signedIn();
    await page.fill('#budget', '1');
    const id = await startFromForm(page, 'shell echo paid-by-extra');
    await page.waitForSelector('#approval-box:not([hidden]) #extra-credits-field:not([hidden])');
    assert.match(await page.locator('#approval-detail').innerText(), /^budget: step 0 \(shell\) needs 7 credit\(s\) up front; the run has 1 left$/);
    assert.equal(await page.locator('#run-left').innerText(), '1');
    await shot(page, 'budget-wait');
    await page.fill('#approval-comment', 'top up');
    await page.fill('#extra-credits', '20');
    await page.click('#approve');
    await runStatus(page, 'completed');
    assert.match(await logText(page), /^paid-by-extra$/m);
    const ledger = (await ledgerOf(w.c, id)).map((r) => [r.kind, Number(r.amount), r.note]);
    assert.deepEqual(ledger.slice(0, 2), [['reserve', 1, null], ['reserve', 20, 'extension']], JSON.stringify(ledger));
    const charged = Number((await w.c.store.getRun(id))!.credits_charged);
    assert.ok(charged > 0);
    // The budget as the run's events report it: 1 + 20 reserved, what it was charged used.
    await page.waitForSelector('#run-reserved:text-is("21")');
    assert.equal(await page.locator('#run-credits').innerText(), String(charged));
    assert.equal(await page.locator('#run-left').innerText(), String(21 - charged));
    // The header was read when the page opened (before or after the reservation): the run's end reads it again.
    const me = (await (await apiFetch(`${w.api!.url}/v1/me`, { headers: { authorization: `Bearer ${w.token}` } })).json()) as { balance: { available: number } };
    assert.equal(me.balance.available, 1000 - charged);
    await page.waitForSelector(`#account:has-text("${w.user} · ${1000 - charged} credits")`);
    const audit = await w.c.store.listAudit(id);
    assert.ok(audit.some((a) => a.action === 'approve' && a.detail.extraCredits === 20 && a.detail.comment === 'top up'), JSON.stringify(audit));
    await shot(page, 'budget-approved');
    await w.done(page);
  });
});

describe('a run\'s usage on the web page in Chromium (a model\'s tokens, from the local fake Anthropic)', { skip: browserSkip() }, () => {
  const w = new WebHarness();
  const fake = new FakeAnthropic();
  before(async () => {
    await fake.start();
    await w.start('web-tokens', 1000, { LLM_PROVIDER: 'anthropic', ANTHROPIC_API_KEY: fake.apiKey, ANTHROPIC_BASE_URL: fake.url, ANTHROPIC_MODEL: 'claude-sonnet-4-5' });
  });
  after(async () => {
    await w.close();
    await fake.stop();
  });

  it('shows the credits used, the tokens counted and the budget reserved and left, as the ledger has them', async () => {
    fake.push(
      toolUse('submit_plan', { summary: 'one note', steps: [{ tool: 'write_file', path: 'note.txt', content: 'hi' }] }, { input_tokens: 1500, output_tokens: 300 }),
      toolUse('decide', { decision: { action: 'finish', reason: 'done', outcome: 'completed' } }, { input_tokens: 600, output_tokens: 50 }),
    );
    const page = await w.signedIn();
    const id = await startFromForm(page, 'Write a note.');
    await runStatus(page, 'completed');
    const charges = (await ledgerOf(w.c, id)).filter((r) => r.kind === 'charge');
    const tokens = charges.reduce((s, r) => s + Number(r.tokens), 0);
    const credits = charges.reduce((s, r) => s + Number(r.amount), 0);
    assert.ok(tokens >= 1800, `${tokens} tokens in the ledger`);
    await page.waitForSelector(`#run-tokens:text-is("${tokens}")`);
    assert.equal(await page.locator('#run-credits').innerText(), String(credits));
    assert.equal(await page.locator('#run-reserved').innerText(), '100');
    assert.equal(await page.locator('#run-left').innerText(), String(100 - credits));
    await shot(page, 'usage');
    await w.done(page);
  });
});
