/**
 * The web page's controls and lists in real Chromium against the real API and worker: a
 * plan rejected with a comment, a run paused (it stops before its next step), sent a
 * message (on its log) and resumed, the run list newest first, filtered by status and
 * updated live as a run's status changes (the header's balance too when it ends), and the
 * start form's priority, budget and workspace fields (the run the API reports has them). One screenshot per scenario under
 * .data/test-artifacts/.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type { Page } from 'playwright-core';
import { browserSkip, logText, runStatus, shot, startFromForm, WebHarness } from '../helpers/web-page.ts';

describe('the web page\'s controls and lists in Chromium', { skip: browserSkip() }, () => {
  const w = new WebHarness();
  before(() => w.start('web-controls', 10_000));
  after(() => w.close());

  /** The API as the signed-in user. */
  const api = async <T>(path: string, body?: unknown): Promise<T> => {
    const res = await fetch(`${w.api!.url}${path}`, {
      method: body === undefined ? 'GET' : 'POST',
      headers: { authorization: `Bearer ${w.token}`, ...(body === undefined ? {} : { 'content-type': 'application/json' }) },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    assert.ok(res.ok, `${path}: ${res.status}`);
    return (path.endsWith('/events') ? await res.text() : await res.json()) as T;
  };
  const startByApi = async (prompt: string, requireApproval = false) => (await api<{ id: string }>('/v1/runs', { prompt, requireApproval })).id;
  const untilStatus = async (page: Page, id: string, status: string) => page.waitForSelector(`#runs tr[data-run="${id}"] [data-status="${status}"]`, { timeout: 60_000 });

  it('rejects a plan with a comment: the run is cancelled with the comment as its reason', async () => {
    const page = await w.signedIn();
    const id = await startFromForm(page, 'write_file never.txt no', true);
    await page.waitForSelector('#approval-box:not([hidden])');
    await page.fill('#approval-comment', 'not this one');
    await page.click('#reject');
    await runStatus(page, 'cancelled');
    assert.match(await logText(page), /^rejected: not this one$/m);
    const run = await api<{ status: string; error?: { code: string; message: string } }>(`/v1/runs/${id}`);
    assert.deepEqual([run.status, run.error], ['cancelled', { code: 'rejected', message: 'rejected: not this one' }]);
    await shot(page, 'rejected');
    await w.done(page);
  });

  it('pauses a run before its next step, puts a message on its log, and resumes it', async () => {
    const page = await w.signedIn();
    const id = await startFromForm(page, 'shell sleep 2\nshell echo after-resume');
    await page.waitForSelector('#steps li[data-index="0"].running');
    await page.click('#pause');
    await runStatus(page, 'paused');
    await page.waitForSelector('#steps li[data-index="0"].ok');
    assert.equal(await page.locator('#steps li[data-index="1"]').count(), 0, 'the next step waits');
    await page.fill('#message', 'carry on when ready');
    await page.click('#message-form button[type=submit]');
    await page.waitForSelector(`.log-line:text-is("message by ${w.user}")`);
    // The box is emptied once the API has taken the message (its answer may come after the event).
    await page.waitForFunction(() => (document.getElementById('message') as HTMLInputElement).value === '');
    await shot(page, 'paused-with-message');
    await page.click('#resume');
    await runStatus(page, 'completed');
    assert.match(await logText(page), /^after-resume$/m);
    const audit = await w.c.store.listAudit(id);
    assert.deepEqual(audit.map((a) => a.action).sort(), ['message', 'pause', 'resume']);
    assert.equal(audit.find((a) => a.action === 'message')!.detail.text, 'carry on when ready');
    await w.done(page);
  });

  it('lists runs newest first, filters them by status, and updates a run\'s status (and the balance when it ends) as it changes', async () => {
    const older = await startByApi('write_file list.txt older');
    const newer = await startByApi('write_file list.txt newer', true);
    const page = await w.signedIn();
    await untilStatus(page, older, 'completed');
    await untilStatus(page, newer, 'awaiting_approval');
    const order = await page.locator('#runs tr[data-run]').evaluateAll((rows) => rows.map((r) => r.getAttribute('data-run')));
    assert.ok(order.indexOf(newer) < order.indexOf(older), `newest first: ${order.join(', ')}`);
    const { runs } = await api<{ runs: { id: string }[] }>('/v1/runs?limit=50');
    assert.deepEqual(order, runs.map((r) => r.id), 'the API\'s order, newest first');

    await page.selectOption('#status-filter', 'awaiting_approval');
    await page.waitForSelector(`#runs tr[data-run="${older}"]`, { state: 'detached' });
    const shown = await page.locator('#runs tr[data-run] [data-status]').evaluateAll((els) => els.map((e) => e.getAttribute('data-status')));
    assert.ok(shown.length >= 1 && shown.every((s) => s === 'awaiting_approval'), shown.join(', '));
    await shot(page, 'run-list-filtered');

    // Live: approved elsewhere, the row changes without the page being loaded again.
    await page.selectOption('#status-filter', '');
    await untilStatus(page, older, 'completed');
    await page.evaluate(() => { document.body.dataset.loadedOnce = 'yes'; });
    await api(`/v1/runs/${newer}/approve`, { approved: true });
    await untilStatus(page, newer, 'completed');
    assert.equal(await page.evaluate(() => document.body.dataset.loadedOnce), 'yes', 'the same page, not a reload');
    // Its reservation settled, the header's balance is read again.
    const me = await api<{ balance: { available: number } }>('/v1/me');
    await page.waitForSelector(`#account:has-text("${w.user} · ${me.balance.available} credits")`);
    await shot(page, 'run-list-live');
    await w.done(page);
  });

  it('starts a run with the form\'s priority, budget and an earlier run\'s workspace, as the API then reports', async () => {
    const earlier = await startByApi('write_file kept.txt from-the-earlier-run');
    const page = await w.signedIn();
    await untilStatus(page, earlier, 'completed');
    await page.selectOption('#priority', '5');
    await page.fill('#budget', '50');
    await page.fill('#workspace', earlier);
    await shot(page, 'start-form-filled');
    const id = await startFromForm(page, 'read_file kept.txt');
    await runStatus(page, 'completed');
    const { runs } = await api<{ runs: { id: string; priority: number }[] }>('/v1/runs?limit=50');
    assert.equal(runs.find((r) => r.id === id)?.priority, 5);
    const events = await api<string>(`/v1/runs/${id}/events`);
    const reserved = [...events.matchAll(/"runReserved":(\d+)/g)].map((m) => Number(m[1]));
    assert.ok(reserved.length > 0 && reserved.every((r) => r === 50), `the run's reservation: ${reserved.join(', ')}`);
    const { files } = await api<{ files: { path: string }[] }>(`/v1/runs/${id}/files`);
    assert.ok(files.some((f) => f.path === 'kept.txt'), JSON.stringify(files));
    assert.match(await logText(page), /from-the-earlier-run/);
    await w.done(page);
  });
});
