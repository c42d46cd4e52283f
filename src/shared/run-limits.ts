/**
 * Size limits of what a run takes in, without zod: the workflow imports them, and a module
 * it imports is initialised again for every execution (see src/workflows/tracing.ts).
 */
export const MAX_PROMPT_CHARS = 20_000;
/** Longest message a human may send a run (the API refuses longer; the workflow keeps this many characters). */
export const MESSAGE_MAX_CHARS = 4000;
