/**
 * What the database can hold of untrusted text. PostgreSQL's text and jsonb refuse U+0000,
 * and jsonb an unpaired surrogate (a tail cut inside a pair): a value holding one made the
 * call fail the same way on every retry, so a run stopped there for good. The database
 * keeps display copies of what models and tools wrote — a run's plan, summary and error, a
 * step's input and summary, an audit row's detail — and in those each such character
 * becomes U+FFFD. The exact text is kept where it is kept exactly: the run's log (Redis),
 * its workflow history, the step records (JSON text, src/store/types.ts StepResultInput).
 */
// eslint-disable-next-line no-control-regex -- U+0000 is what PostgreSQL refuses
const UNSTORABLE = /\u0000|[\ud800-\udbff](?![\udc00-\udfff])|(?<![\ud800-\udbff])[\udc00-\udfff]/g;

/** `value` with every string in it (keys too) made storable; the same value when there was nothing to change. */
export function storable<T>(value: T): T {
  if (typeof value === 'string') return value.replace(UNSTORABLE, '\ufffd') as T;
  if (Array.isArray(value)) return value.map(storable) as T;
  if (value !== null && typeof value === 'object' && Object.getPrototypeOf(value) === Object.prototype) {
    return Object.fromEntries(Object.entries(value).map(([k, v]) => [storable(k), storable(v)])) as T;
  }
  return value;
}
