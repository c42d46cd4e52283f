/**
 * A run's page: status and usage (credits used, tokens, the budget reserved and what is left
 * of it, from the run's `usage` events and its holds), the step timeline, the live log
 * (./log-view.ts), the controls (approve or reject with a comment, plus extra credits at a
 * budget wait, the only wait that adds them; pause, resume, cancel, a message), the
 * workspace's files with downloads, and a link to the run in the Temporal Web UI. Its events
 * are followed with the CLI's follow (src/client/follow.ts): fetch with the Authorization
 * header, resumed with Last-Event-ID across reconnects and API restarts.
 */
import { ApiError } from '../client/api.ts';
import type { RunView } from '../client/api.ts';
import { followRun } from '../client/follow.ts';
import { browserLogLines } from '../client/log-lines.ts';
import { h, notice, replace, statusBadge } from './dom.ts';
import { LogView } from './log-view.ts';
import type { Page } from './page.ts';

const str = (v: unknown) => (typeof v === 'string' ? v : JSON.stringify(v));

/** Saves `blob` as `name` through a temporary object URL (the token never goes into a URL). */
function save(blob: Blob, name: string): void {
  const url = URL.createObjectURL(blob);
  const a = h('a', { href: url, download: name.split('/').pop() ?? name });
  document.body.append(a);
  a.click();
  a.remove();
  setTimeout(() => URL.revokeObjectURL(url), 10_000);
}

export async function showRun(page: Page, id: string): Promise<void> {
  const { client } = page;
  const act = (what: string, call: () => Promise<unknown>) => () => {
    call().then(() => notice(undefined), (err: unknown) => notice(`${what}: ${err instanceof ApiError ? `${err.code}: ${err.message}` : String(err)}`));
  };
  const status = h('span', { id: 'run-status' });
  const credits = h('span', { id: 'run-credits' }, '0');
  const tokens = h('span', { id: 'run-tokens' }, '0');
  const reserved = h('span', { id: 'run-reserved' }, '–');
  const left = h('span', { id: 'run-left' }, '–');
  const usage = { charged: 0, reserved: undefined as number | undefined, tokens: 0 };
  const showUsage = () => {
    credits.textContent = String(usage.charged);
    tokens.textContent = String(usage.tokens);
    reserved.textContent = usage.reserved === undefined ? '–' : String(usage.reserved);
    left.textContent = usage.reserved === undefined ? '–' : String(usage.reserved - usage.charged);
  };
  /** The run's figures as an event reports them (a hold's log line or a usage event). */
  const fromEvent = (d: Record<string, unknown>) => {
    if (typeof d.runCharged === 'number') usage.charged = d.runCharged;
    if (typeof d.runReserved === 'number') usage.reserved = d.runReserved;
    showUsage();
  };
  const steps = h('ol', { class: 'steps', id: 'steps', 'aria-label': 'Steps' });
  const log = new LogView();
  const files = h('tbody', { id: 'files' });
  let planned = 0;

  const comment = h('textarea', { id: 'approval-comment', rows: 2, 'aria-label': 'Comment' });
  const extra = h('input', { type: 'number', id: 'extra-credits', min: 1, step: 1, 'aria-label': 'Extra credits' });
  // Only a budget wait adds extra credits to the run (the API refuses them at any other).
  const extraField = h('div', { id: 'extra-credits-field', hidden: true }, h('label', { for: 'extra-credits' }, 'Extra credits (empty: one more reservation)'), extra);
  const decide = (approved: boolean) => act(approved ? 'approve' : 'reject', () => client.control(id, 'approve', {
    approved, comment: comment.value || undefined, extraCredits: !extraField.hidden && extra.value ? Number(extra.value) : undefined,
  }));
  const approvalDetail = h('p', { id: 'approval-detail' });
  const approvalBox = h('fieldset', { id: 'approval-box', hidden: true }, h('legend', {}, 'Waiting for you'), approvalDetail,
    h('label', { for: 'approval-comment' }, 'Comment'), comment, extraField,
    h('div', { class: 'row' }, h('button', { type: 'button', class: 'primary', id: 'approve', onclick: decide(true) }, 'Approve'),
      h('button', { type: 'button', id: 'reject', onclick: decide(false) }, 'Reject')));
  const message = h('input', { id: 'message', size: 50, 'aria-label': 'Message for the run' });
  const messageForm = h('form', { id: 'message-form', class: 'row' }, message, h('button', { type: 'submit' }, 'Send message'));
  messageForm.addEventListener('submit', (e) => {
    e.preventDefault();
    act('message', () => client.control(id, 'messages', { text: message.value }).then(() => { message.value = ''; }))();
  });

  const setStatus = (s: string, waitingFor?: string) => {
    replace(status, statusBadge(s));
    approvalBox.hidden = s !== 'awaiting_approval';
    extraField.hidden = s !== 'awaiting_approval' || waitingFor !== 'budget';
  };
  const stepLine = (index: number, tool: string) => {
    let li = steps.querySelector<HTMLLIElement>(`li[data-index="${index}"]`);
    if (!li) {
      li = h('li', { 'data-index': index });
      steps.append(li);
    }
    li.dataset.tool = tool;
    return li;
  };
  const label = (index: number, tool: string) => `step ${index + 1}${planned ? `/${planned}` : ''} ${tool}`;
  const loadFiles = async () => {
    const { files: list } = await client.listFiles(id);
    replace(files, ...(list.length ? list.map((f) => h('tr', { 'data-path': f.path },
      h('td', {}, f.path), h('td', {}, String(f.size)),
      h('td', {}, h('button', { type: 'button', class: 'download', onclick: act('download', async () => save(await (await client.file(id, f.path)).blob(), f.path)) }, 'Download'))))
      : [h('tr', {}, h('td', { colspan: 3, class: 'muted' }, 'No files yet'))]));
  };

  let run: RunView;
  try {
    run = await client.getRun(id);
  } catch (err) {
    replace(page.main, h('p', { class: 'bad' }, err instanceof ApiError ? `${err.code}: ${err.message}` : String(err)), h('a', { href: '#/' }, 'All runs'));
    return;
  }
  planned = run.plan?.steps.length ?? 0;
  setStatus(run.status);
  usage.charged = run.usage.credits;
  showUsage();
  const ui = page.config.temporalUiUrl;
  replace(page.main,
    h('p', {}, h('a', { href: '#/' }, '← All runs')),
    h('h1', {}, id),
    h('p', { class: 'row', id: 'run-usage' }, status, h('span', {}, 'credits used: ', credits), h('span', {}, 'tokens: ', tokens),
      h('span', {}, 'budget: ', reserved, ' reserved, ', left, ' left'),
      ui ? h('a', { id: 'temporal-link', href: `${ui}/namespaces/${encodeURIComponent(page.config.namespace)}/workflows/${id}`, target: '_blank', rel: 'noopener' }, 'Open in the Temporal Web UI') : null),
    approvalBox,
    h('div', { class: 'row' },
      h('button', { type: 'button', id: 'pause', onclick: act('pause', () => client.control(id, 'pause')) }, 'Pause'),
      h('button', { type: 'button', id: 'resume', onclick: act('resume', () => client.control(id, 'resume')) }, 'Resume'),
      h('button', { type: 'button', id: 'cancel', onclick: act('cancel', () => client.control(id, 'cancel')) }, 'Cancel'),
      h('button', { type: 'button', id: 'download-log', onclick: () => save(new Blob([log.text()], { type: 'text/plain' }), `${id}.log`) }, 'Download log')),
    messageForm,
    h('h2', {}, 'Steps'), steps,
    h('h2', {}, 'Log'), log.el,
    h('h2', {}, 'Files'), h('table', {}, files));
  void loadFiles().catch(() => undefined);

  const onEvent = (event: string, d: Record<string, unknown>) => {
    switch (event) {
      case 'status': {
        setStatus(str(d.status), (d.waitingFor as { kind?: string } | undefined)?.kind);
        const plan = d.plan as { steps?: string[] } | undefined;
        if (plan?.steps) {
          planned = plan.steps.length;
          log.append(`plan: ${plan.steps.join(', ')}`, 'meta');
        }
        return;
      }
      case 'step': {
        const index = Number(d.index);
        const li = stepLine(index, str(d.tool));
        if (d.phase === 'started') {
          li.className = 'running';
          li.textContent = `… ${label(index, str(d.tool))}`;
        } else if (d.phase === 'completed' || d.phase === 'failed') {
          const ok = d.ok !== false && d.phase !== 'failed';
          li.className = ok ? 'ok' : 'bad';
          li.textContent = `${ok ? '✔' : '✖'} ${label(index, str(d.tool))}${d.summary ? ` — ${str(d.summary)}` : ''}`;
          void loadFiles().catch(() => undefined);
        }
        return;
      }
      case 'log':
        if (d.stream === 'credits') fromEvent(d);
        if (d.stream === 'browser') log.append(browserLogLines(d).join('\n'), 'meta');
        // A control the API recorded (a message, a cancel): who did it, and the text when the event has it.
        else if (d.stream === 'control') log.append(`${str(d.action)} by ${str(d.actor)}${typeof d.text === 'string' ? `: ${d.text}` : ''}`, 'meta');
        else if (typeof d.text === 'string') log.append(d.stream === 'credits' ? `$ ${d.text}` : d.text, d.stream === 'stderr' ? 'stderr' : d.stream === 'stdout' || d.stream === 'file' ? 'stdout' : 'meta');
        else if (d.stream === 'supervisor') log.append(`supervisor: ${str(d.decision)}${d.reason ? `: ${str(d.reason)}` : ''}`, 'meta');
        return;
      case 'usage':
        if (typeof d.tokens === 'number') usage.tokens += d.tokens;
        fromEvent(d);
        return;
      case 'approval':
        // A budget wait says what the run has left (no hold was taken to report it).
        if (d.approved === undefined && typeof d.left === 'number') left.textContent = String(d.left);
        if (d.approved === undefined) approvalDetail.textContent = d.kind === 'question' ? `The run asks: ${str(d.question)} (answer with a message)` : `${str(d.kind)}: ${str(d.detail ?? '')}`;
        else log.append(`${d.approved ? 'approved' : 'rejected'}${d.comment ? `: ${str(d.comment)}` : ''}`, 'meta');
        return;
      case 'end':
        setStatus(str(d.status));
        log.append(`end: ${str(d.status)}${d.error ? ` — ${str((d.error as { message?: string }).message)}` : ''}`, 'meta');
        void client.getRun(id).then((r) => { usage.charged = r.usage.credits; showUsage(); }, () => undefined);
        page.refreshAccount();
        void loadFiles().catch(() => undefined);
        return;
      case 'reset':
        setStatus('running');
        log.append(`reset: the run goes on from an earlier point of its history${typeof d.reserved === 'number' && d.reserved > 0 ? ` (${d.reserved} credit(s) reserved again)` : ''}`, 'meta');
        return;
      default:
    }
  };
  try {
    for await (const m of followRun(client, id, { signal: page.signal, onReconnect: (why) => log.append(`(reconnecting: ${why})`, 'meta') })) {
      onEvent(m.event, JSON.parse(m.data) as Record<string, unknown>);
    }
  } catch (err) {
    if (!page.signal.aborted) notice(`Stopped following: ${(err as Error).message}`);
  }
}
