/** What every view of the web page is given: the API client, the page's settings, where to draw, and when to stop. */
import type { ApiClient } from '../client/api.ts';

/** GET /app/config.json: the Temporal Web UI for deep links, and whether the API asks for a token. */
export interface PageConfig { temporalUiUrl: string | null; namespace: string; authMode: 'jwt' | 'none' }

/**
 * A view's context; `signal` aborts when the reader leaves the view (its follows and timers
 * stop); `refreshAccount` reads the caller's balance again for the header (a run ended).
 */
export interface Page { client: ApiClient; config: PageConfig; main: HTMLElement; signal: AbortSignal; refreshAccount(): void }
