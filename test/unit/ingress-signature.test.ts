/**
 * Signatures of legacy queue entries: the exact signed bytes, the openssl recipe the
 * README gives producers, and every way a signature is refused.
 */
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { describe, it } from 'node:test';
import { announcedId } from '../../src/infra/event-log.ts';
import { ingressSignatureProblem, ingressSigningInput, signIngress } from '../../src/shared/ingress-signature.ts';

const secret = randomBytes(32).toString('base64url');
const runId = 'run_01jabcdefghjkmnpqrstvwxyz0';
const other = 'run_01jzzzzzzzzzzzzzzzzzzzzzzz';

describe('ingress entry signatures', () => {
  it('signs exactly "agentrun-ingress-v1:<run_id>" (and ":<retry_of>"), as openssl does', () => {
    assert.equal(ingressSigningInput(runId), `agentrun-ingress-v1:${runId}`);
    assert.equal(ingressSigningInput(runId, other), `agentrun-ingress-v1:${runId}:${other}`);
    const viaOpenssl = execFileSync('sh', ['-c', `printf 'agentrun-ingress-v1:%s' "$RUN_ID" | openssl dgst -sha256 -hmac "$INGRESS_SIGNING_SECRET" -r | cut -c1-64`], {
      env: { PATH: process.env.PATH ?? '/usr/bin:/bin', RUN_ID: runId, INGRESS_SIGNING_SECRET: secret },
    }).toString().trim();
    assert.equal(viaOpenssl, signIngress(secret, runId));
  });

  it('accepts the right signature and refuses a missing, malformed or wrong one with the reason', () => {
    const sig = signIngress(secret, runId);
    assert.equal(ingressSignatureProblem(secret, { run_id: runId, sig }), undefined);
    assert.match(ingressSignatureProblem(secret, { run_id: runId })!, /no "sig"/);
    assert.match(ingressSignatureProblem(secret, { run_id: runId, sig: 42 })!, /64 lowercase hex/);
    assert.match(ingressSignatureProblem(secret, { run_id: runId, sig: sig.toUpperCase() })!, /64 lowercase hex/);
    assert.match(ingressSignatureProblem(secret, { run_id: runId, sig: sig.slice(0, 63) })!, /64 lowercase hex/);
    const flipped = (sig[0] === '0' ? '1' : '0') + sig.slice(1);
    assert.match(ingressSignatureProblem(secret, { run_id: runId, sig: flipped })!, /does not match agentrun-ingress-v1:run_/);
    // Another run's signature, another secret, or an added retry_of: refused.
    assert.ok(ingressSignatureProblem(secret, { run_id: other, sig }));
    assert.ok(ingressSignatureProblem(randomBytes(32).toString('base64url'), { run_id: runId, sig }));
    assert.ok(ingressSignatureProblem(secret, { run_id: runId, retry_of: other, sig }));
    assert.equal(ingressSignatureProblem(secret, { run_id: runId, retry_of: other, sig: signIngress(secret, runId, other) }), undefined);
  });
});

describe('pub/sub messages name stream ids only', () => {
  it('takes the first word when it is a stream id, and nothing else', () => {
    assert.equal(announcedId('1764500000000-0 1764499999999-3\nlog\n{"text":"x"}'), '1764500000000-0');
    assert.equal(announcedId('1764500000000-7'), '1764500000000-7');
    for (const bad of ['', 'x', '+ -\nlog\n{}', '-', '1-', '1-0x', 'id: 1-0\nevent: end\n\n', '1-0\r\nevent: end', '99999999999999999999999-0 \nlog\n{}']) {
      assert.equal(announcedId(bad), undefined, JSON.stringify(bad));
    }
  });
});
