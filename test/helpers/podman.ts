/**
 * podman for the tests that run this repository's images (the images, the compose stack,
 * the pod simulator): this repository's containers.conf and storage.conf (src/dev/image.ts),
 * and whether the images a test needs are there — a skip with its reason in `./dev test`,
 * a failure under `./dev test --deploy` (AGENTRUN_REQUIRE_IMAGES=1), which built them first.
 */
import { spawnSync } from 'node:child_process';
import { containerEnv } from '../../src/dev/image.ts';

export const podmanEnv = () => containerEnv(process.env);
export const podman = (args: string[]) => spawnSync('podman', args, { env: podmanEnv(), encoding: 'utf8' });
export const hasCommand = (cmd: string) => spawnSync('sh', ['-c', `command -v ${cmd}`]).status === 0;

/** Why the images cannot be used (podman missing, an image not built), or undefined when they all can. */
export function imagesMissing(images: readonly string[]): string | undefined {
  if (!hasCommand('podman')) return 'podman is not installed';
  const absent = images.filter((i) => podman(['image', 'exists', i]).status !== 0);
  return absent.length ? `${absent.join(', ')} not built` : undefined;
}

/** A test's skip for `images` (false when present, `hint` appended to the reason); throws instead when they are required. */
export function skipWithoutImages(images: readonly string[], hint: string): false | string {
  const missing = imagesMissing(images);
  if (!missing) return false;
  if (process.env.AGENTRUN_REQUIRE_IMAGES === '1') throw new Error(`AGENTRUN_REQUIRE_IMAGES=1 but ${missing}`);
  return `${missing}: ${hint}`;
}
