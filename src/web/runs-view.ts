/**
 * The runs page: a form that starts a run (prompt, approval, priority, budget, an earlier
 * run's workspace) and the caller's runs, newest first, filtered by status, their
 * statuses refreshed every two seconds while the page is shown (and the header's balance
 * when one of them ends).
 */
import { ApiError } from '../client/api.ts';
import type { RunSummary } from '../client/api.ts';
import { h, notice, replace, statusBadge } from './dom.ts';
import type { Page } from './page.ts';

const STATUSES = ['queued', 'planning', 'awaiting_approval', 'running', 'paused', 'completed', 'failed', 'cancelled'];
const ENDED = new Set(['completed', 'failed', 'cancelled']);
const REFRESH_MS = 2000;

function startForm(page: Page): HTMLFormElement {
  const prompt = h('textarea', { id: 'prompt', name: 'prompt', required: true, rows: 5, placeholder: 'write_file notes/hello.txt Hello!\nshell echo done' });
  const approval = h('input', { type: 'checkbox', id: 'require-approval', name: 'requireApproval' });
  const priority = h('select', { id: 'priority', name: 'priority' }, ...[1, 2, 3, 4, 5].map((p) => h('option', { value: p, selected: p === 3 }, String(p))));
  const budget = h('input', { type: 'number', id: 'budget', name: 'budget', min: 1, step: 1, placeholder: 'default' });
  const workspace = h('input', { id: 'workspace', name: 'workspace', placeholder: 'run_… (optional)', size: 32 });
  const form = h('form', { id: 'start-form' },
    h('fieldset', {}, h('legend', {}, 'Start a run'),
      h('label', { for: 'prompt' }, 'Prompt'), prompt,
      h('div', { class: 'row' },
        h('label', {}, approval, ' Ask for approval of the plan'),
        h('label', { for: 'priority' }, 'Priority'), priority,
        h('label', { for: 'budget' }, 'Budget (credits)'), budget,
        h('label', { for: 'workspace' }, 'Workspace of run'), workspace),
      h('button', { type: 'submit', class: 'primary', id: 'start' }, 'Start')));
  form.addEventListener('submit', (e) => {
    e.preventDefault();
    const req = {
      prompt: prompt.value, requireApproval: approval.checked, priority: Number(priority.value),
      budget: budget.value ? Number(budget.value) : undefined, workspaceId: workspace.value.trim() || undefined,
    };
    page.client.startRun(req, crypto.randomUUID()).then((run) => { location.hash = `#/runs/${run.id}`; },
      (err: unknown) => notice(err instanceof ApiError ? `${err.code}: ${err.message}` : String(err)));
  });
  return form;
}

function runRow(r: RunSummary): HTMLTableRowElement {
  return h('tr', { 'data-run': r.id },
    h('td', {}, h('a', { href: `#/runs/${r.id}` }, r.id)), h('td', {}, statusBadge(r.status)),
    h('td', {}, String(r.usage.credits)), h('td', {}, new Date(r.createdAt).toLocaleString()),
    h('td', { class: 'muted' }, r.promptPreview.replace(/\s+/g, ' ').slice(0, 80)));
}

export async function showRuns(page: Page): Promise<void> {
  const filter = h('select', { id: 'status-filter', 'aria-label': 'Show runs in status' }, h('option', { value: '' }, 'all'),
    ...STATUSES.map((s) => h('option', { value: s }, s)));
  const body = h('tbody', { id: 'runs' });
  const seen = new Map<string, string>();
  const refresh = async () => {
    try {
      const { runs } = await page.client.listRuns({ status: filter.value || undefined, limit: 50 });
      // A run seen going that has ended settled or released its credits: the header's balance changed.
      if (runs.some((r) => ENDED.has(r.status) && seen.has(r.id) && !ENDED.has(seen.get(r.id)!))) page.refreshAccount();
      for (const r of runs) seen.set(r.id, r.status);
      replace(body, ...(runs.length ? runs.map(runRow) : [h('tr', {}, h('td', { colspan: 5, class: 'muted' }, 'No runs'))]));
    } catch (err) {
      notice(`Could not list runs: ${(err as Error).message}`);
    }
  };
  filter.addEventListener('change', () => void refresh());
  replace(page.main, startForm(page),
    h('section', {}, h('div', { class: 'row' }, h('h2', {}, 'Runs'), filter),
      h('table', {}, h('thead', {}, h('tr', {}, ...['Run', 'Status', 'Credits', 'Created', 'Prompt'].map((t) => h('th', {}, t)))), body)));
  await refresh();
  const timer = setInterval(() => void refresh(), REFRESH_MS);
  page.signal.addEventListener('abort', () => clearInterval(timer), { once: true });
}
