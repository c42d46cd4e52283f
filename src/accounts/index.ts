/**
 * Accounts: what a user has and may spend, behind GET /v1/me and the operators' user
 * routes. Balance, limits (their own or DAILY_TOKEN_LIMIT / MONTHLY_COST_LIMIT) with what
 * is used, runs going against API_MAX_ACTIVE_RUNS; operators' grants and deductions
 * (once per Idempotency-Key, the ledger row naming the operator), limits, the ledger;
 * and NEW_USER_CREDITS, granted once: the first time a user is seen while it is above 0.
 * Refusals are domain errors (./errors.ts); the store's SQL functions do the arithmetic,
 * in one transaction each.
 */
import { IdempotencyKeyReused, NotEnoughCredits, UnknownUser } from './errors.ts';
import { InvalidInput, Unavailable } from '../runs/errors.ts';
import type { Actor } from '../runs/index.ts';
import type { ToolBreaker } from '../infra/breaker.ts';
import type { Account, LedgerEntry, Store } from '../store/types.ts';

export { IdempotencyKeyReused, NotEnoughCredits, UnknownUser } from './errors.ts';

/** A user's account as the API answers it. */
export interface AccountView {
  userId: string;
  balance: { available: number; reserved: number };
  limits: {
    /** `user`: limits of their own; `default`: DAILY_TOKEN_LIMIT / MONTHLY_COST_LIMIT. */
    source: 'user' | 'default';
    dailyTokens: { limit: number | null; used: number };
    monthlyCost: { limit: number | null; spent: number; held: number };
  };
  runs: { active: number; allowed: number };
  /** The user's tool breakers with failures on record (open ones first). */
  breakers: { tool: string; failures: number; open: boolean; openUntil: string | null }[];
}

export interface AccountsDeps {
  store: Store;
  /** API_MAX_ACTIVE_RUNS. */
  maxActiveRuns: number;
  /** NEW_USER_CREDITS. */
  newUserCredits: number;
  /** The tool breakers, for the account's `breakers` (absent: none shown). */
  breaker?: ToolBreaker;
}

/** Users whose first sight was handled, per process: most requests cost no database call for it. */
const SEEN_MAX = 100_000;

export class AccountsService {
  private readonly deps: AccountsDeps;
  private readonly seenUsers = new Set<string>();
  constructor(deps: AccountsDeps) {
    this.deps = deps;
  }

  /** Makes the user known, with NEW_USER_CREDITS the first time (idempotent in the database). */
  async seen(userId: string): Promise<void> {
    if (this.seenUsers.has(userId)) return;
    await this.db(() => this.deps.store.welcome(userId, this.deps.newUserCredits));
    if (this.seenUsers.size >= SEEN_MAX) this.seenUsers.clear();
    this.seenUsers.add(userId);
  }

  /** The caller's own account. */
  async mine(userId: string): Promise<AccountView> {
    return this.view(await this.db(() => this.deps.store.account(userId)), await this.breakers(userId));
  }

  /** Any known user's account (operators). */
  async get(userId: string): Promise<AccountView> {
    return this.view(await this.known(userId), await this.breakers(userId));
  }

  /** The user's breakers; none when Redis does not answer (an account still shows). */
  private async breakers(userId: string): Promise<AccountView['breakers']> {
    const all = await this.deps.breaker?.list(userId).catch(() => []) ?? [];
    return all.map(({ tool, failures, open, openUntil }) => ({ tool, failures, open, openUntil }));
  }

  /** A page of the user's ledger, newest first; `mustBeKnown` for operators naming a user. */
  async ledger(userId: string, q: { before?: number; limit: number }, mustBeKnown: boolean): Promise<{ entries: LedgerEntry[]; more: boolean }> {
    if (mustBeKnown) await this.known(userId);
    const rows = await this.db(() => this.deps.store.ledger(userId, q.before, q.limit + 1));
    return { entries: rows.slice(0, q.limit), more: rows.length > q.limit };
  }

  /**
   * An operator grants (amount > 0) or deducts (amount < 0) credits, once per key: the same
   * key and request again answers `replayed`; the same key for anything else is refused.
   */
  async adjust(operator: Actor, userId: string, amount: number, key: string, note: string): Promise<{ balance: AccountView['balance']; replayed: boolean }> {
    if (!Number.isSafeInteger(amount) || amount === 0) throw new InvalidInput('amount', 'must be a whole number of credits, not zero');
    // Scoped to the operator: another operator's key never collides with this one's.
    const ledgerKey = `op:${operator.id}:${key}`;
    const r = await this.db(() => this.deps.store.adjust(userId, amount, ledgerKey, note, operator.id));
    if (r.ok) return { balance: { available: r.available, reserved: r.reserved }, replayed: r.replayed };
    switch (r.reason) {
      case 'unknown_user': throw new UnknownUser(userId);
      case 'idempotency_conflict': throw new IdempotencyKeyReused();
      case 'insufficient_credits': throw new NotEnoughCredits(r.message, r.available);
      default: throw new InvalidInput('amount', r.message);
    }
  }

  /** Sets the user's own limits (null: none), replacing the defaults for them. */
  async setLimits(userId: string, limits: { dailyTokenLimit: number | null; monthlyCostLimit: number | null }): Promise<AccountView> {
    await this.known(userId);
    await this.db(() => this.deps.store.setLimits(userId, limits));
    return this.get(userId);
  }

  /** Removes the user's own limits: the defaults apply again. */
  async clearLimits(userId: string): Promise<AccountView> {
    await this.known(userId);
    await this.db(() => this.deps.store.clearLimits(userId));
    return this.get(userId);
  }

  private async known(userId: string): Promise<Account> {
    const account = await this.db(() => this.deps.store.account(userId));
    if (!account.known) throw new UnknownUser(userId);
    return account;
  }

  private view(a: Account, breakers: AccountView['breakers']): AccountView {
    return {
      userId: a.user_id,
      balance: { available: a.available, reserved: a.reserved },
      limits: {
        source: a.limits_source,
        dailyTokens: { limit: a.daily_token_limit, used: a.tokens_today },
        monthlyCost: { limit: a.monthly_cost_limit, spent: a.spent_this_month, held: a.held },
      },
      runs: { active: a.active_runs, allowed: this.deps.maxActiveRuns },
      breakers,
    };
  }

  private async db<T>(call: () => Promise<T>): Promise<T> {
    try {
      return await call();
    } catch (err) {
      throw new Unavailable('the database', err);
    }
  }
}
