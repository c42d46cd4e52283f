/**
 * The stack refuses to start MinIO on a disk it would refuse to write to: MinIO answers
 * XMinioStorageFull once its disk is 99% full (root-reserved blocks not counted), and every
 * run writes to it at every step, so they would retry until they time out.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { loadStackContext } from '../../src/dev/context.ts';
import { diskRoomProblem, minio } from '../../src/dev/services/minio.ts';

const GB = 1e9;
/** A statfs of `totalGb` usable, `freeGb` free, and `reservedGb` kept for root (not part of MinIO's total). */
const disk = (totalGb: number, freeGb: number, reservedGb = 0) => {
  const bsize = 4096;
  const blocks = (x: number) => Math.round((x * GB) / bsize);
  return { bsize, blocks: blocks(totalGb + reservedGb), bfree: blocks(freeGb + reservedGb), bavail: blocks(freeGb) };
};

describe('room on the disk under MinIO', () => {
  it('is enough with 1% of the disk and 2 GiB free', () => {
    assert.equal(diskRoomProblem('/d', disk(100, 50)), undefined);
    assert.equal(diskRoomProblem('/d', disk(100, 3.2)), undefined);
  });

  it('is refused near MinIO\'s 99% limit, with one line naming the disk, the numbers and what to do', () => {
    const why = diskRoomProblem('/srv/.data/minio', disk(252, 2.4));
    assert.ok(why);
    assert.doesNotMatch(why, /\n/);
    assert.match(why, /^the disk under \/srv\/\.data\/minio has 2\.4 GB free of 252\.0 GB: MinIO refuses every write once its disk is 99% full/);
    assert.match(why, /free 2\.3 GB more \(podman image prune removes superseded images\)/);
  });

  it('counts sizes as MinIO does: blocks reserved for root are neither free nor part of the total', () => {
    // 160 GB reserved: df's Size says 252, MinIO's total is 92; 3 GB free is too little of 92 + 2 GiB.
    assert.match(diskRoomProblem('/d', disk(92, 3.0, 160)) ?? '', /has 3\.0 GB free of 92\.0 GB/);
    assert.equal(diskRoomProblem('/d', disk(92, 3.2, 0)), undefined);
  });

  it('./dev up refuses to start MinIO on a 64 MB disk with that line, and starts nothing', async (t) => {
    const dir = mkdtempSync(join(tmpdir(), 'agentrun-full-'));
    const mounted = spawnSync('mount', ['-t', 'tmpfs', '-o', 'size=64m', 'tmpfs', dir], { encoding: 'utf8' });
    if (mounted.status !== 0) {
      rmSync(dir, { recursive: true, force: true });
      t.skip(`cannot mount a tmpfs here: ${mounted.stderr.trim()}`);
      return;
    }
    try {
      const ctx = loadStackContext({ ...process.env, AGENTRUN_DATA_DIR: dir });
      await assert.rejects(minio.start(ctx), (err: Error) => {
        assert.equal(err.name, 'StackError');
        assert.match(err.message, new RegExp(`^the disk under ${dir}/minio has 0\\.1 GB free of 0\\.1 GB: MinIO refuses every write`));
        return true;
      });
      assert.ok(!existsSync(join(dir, 'logs', 'minio.log')) && !existsSync(join(dir, 'minio', '.minio.sys')), 'MinIO was not started');
    } finally {
      spawnSync('umount', [dir]);
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
