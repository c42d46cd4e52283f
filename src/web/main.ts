/**
 * The web page served at / (src/api/web-routes.ts): sign in with a token (kept in this
 * tab's sessionStorage, sent as an Authorization header, never put in a URL; nothing is
 * asked when the API runs with AUTH_MODE=none), then the runs (./runs-view.ts) and a run
 * (./run-view.ts) by the address's #fragment. It talks to the public API only, through
 * the same client as the CLI (src/client).
 */
import { ApiClient, ApiError } from '../client/api.ts';
import type { Account } from '../client/api.ts';
import { h, notice, replace } from './dom.ts';
import type { Page, PageConfig } from './page.ts';
import { showRun } from './run-view.ts';
import { showRuns } from './runs-view.ts';


const TOKEN_KEY = 'agentrun.token';
let view: AbortController | undefined;

async function start(): Promise<void> {
  const config = (await (await fetch('/app/config.json')).json()) as PageConfig;
  const client = new ApiClient(location.origin, () => sessionStorage.getItem(TOKEN_KEY) ?? undefined);
  const main = document.getElementById('main')!;
  const signOut = document.getElementById('sign-out')!;
  signOut.addEventListener('click', () => {
    sessionStorage.removeItem(TOKEN_KEY);
    location.hash = '#/';
    void route();
  });

  /** The header: who is signed in, their balance, and the tools whose breakers are open. */
  const showAccount = (me: Account) => {
    const open = (me.breakers ?? []).filter((b) => b.open).map((b) => `${b.tool} unavailable until ${new Date(b.openUntil ?? 0).toLocaleTimeString()}`);
    document.getElementById('account')!.textContent = [`${me.userId} · ${me.balance.available} credits`, ...open].join(' · ');
  };
  const refreshAccount = () => { void client.me().then(showAccount, () => undefined); };

  const signIn = (why?: string) => {
    view?.abort();
    signOut.hidden = true;
    document.getElementById('account')!.textContent = '';
    const input = h('input', { type: 'password', id: 'token', name: 'token', autocomplete: 'off', required: true, size: 60 });
    const form = h('form', { id: 'sign-in' },
      h('fieldset', {}, h('legend', {}, 'Sign in'),
        h('label', { for: 'token' }, 'Token (a JWT or an API key)'), input, ' ', h('button', { type: 'submit', class: 'primary' }, 'Sign in')),
      why ? h('p', { class: 'bad' }, why) : null);
    form.addEventListener('submit', (e) => {
      e.preventDefault();
      sessionStorage.setItem(TOKEN_KEY, input.value.trim());
      void route();
    });
    replace(main, form);
    input.focus();
  };

  const route = async (): Promise<void> => {
    view?.abort();
    view = new AbortController();
    notice(undefined);
    try {
      const me = await client.me();
      signOut.hidden = config.authMode === 'none';
      showAccount(me);
    } catch (err) {
      if (err instanceof ApiError && err.status === 401) return signIn(sessionStorage.getItem(TOKEN_KEY) ? `Signed out: ${err.message}` : undefined);
      notice(`The API does not answer: ${(err as Error).message}`);
      return;
    }
    const page: Page = { client, config, main, signal: view.signal, refreshAccount };
    const run = /^#\/runs\/(run_[0-9a-z]{26})$/.exec(location.hash);
    if (run) await showRun(page, run[1]!);
    else await showRuns(page);
  };

  window.addEventListener('hashchange', () => void route());
  await route();
}

void start();
