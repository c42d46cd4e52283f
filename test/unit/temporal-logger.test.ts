/** The Temporal SDK's logs in pino (src/worker/temporal-logger.ts): levels kept, errors as `err`, what pino drops not copied. */
import assert from 'node:assert/strict';
import { Writable } from 'node:stream';
import { describe, it } from 'node:test';
import pino from 'pino';
import { sdkLogger } from '../../src/worker/temporal-logger.ts';

function capture(level: string) {
  const lines: Record<string, unknown>[] = [];
  const sink = new Writable({ write(chunk: Buffer, _enc, done) { lines.push(JSON.parse(chunk.toString()) as Record<string, unknown>); done(); } });
  return { lines, log: sdkLogger(pino({ level }, sink)) };
}

describe('the SDK logger', () => {
  it('writes what the level lets through, an error under `err`, and reads no metadata of what it drops', async () => {
    const { lines, log } = capture('info');
    log.warn('Workflow failed', { workflowId: 'w1', error: new Error('boom') });
    log.info('Worker state changed', { state: 'RUNNING' });
    // Metadata whose reading throws: a dropped line must not touch it.
    const trap = new Proxy({}, { ownKeys() { throw new Error('read'); }, get() { throw new Error('read'); } });
    log.debug('Activity started', trap);
    log.trace('Completed activation', trap);
    log.log('DEBUG', 'Activity completed', trap);
    await new Promise((r) => setImmediate(r));
    assert.deepEqual(lines.map((l) => l.msg), ['Workflow failed', 'Worker state changed']);
    assert.equal((lines[0]!.err as { message: string }).message, 'boom');
    assert.equal(lines[0]!.workflowId, 'w1');
    assert.equal(lines[1]!.state, 'RUNNING');
  });
});
