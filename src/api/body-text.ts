/**
 * The text fields of request bodies: a prompt, a message to a run, an approval's comment,
 * an operator's note. None may hold U+0000: PostgreSQL's text and jsonb cannot store it,
 * and a prompt with one was answered 503 ("the database is unavailable"), as it would have
 * been on every retry, instead of saying what was wrong with it.
 */
import { z } from 'zod';

export const noNul = (s: string): boolean => !s.includes('\u0000');
export const NO_NUL = 'must not contain NUL characters (\\u0000)';

/** A required text field: trimmed, not empty, at most `max` characters, no NUL. */
export function requiredText(max: number) {
  return z.string({ error: (i) => (i.input === undefined ? 'is required' : 'must be a string') })
    .trim().min(1, 'must not be empty').max(max, `must be at most ${max} characters`).refine(noNul, NO_NUL);
}
