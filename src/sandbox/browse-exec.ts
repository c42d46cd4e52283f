/**
 * The browser tool inside a Kubernetes Job's exec container: the pod is the sandbox, so
 * Chromium runs as a plain child of the runner, behind the egress proxy on the pod's
 * loopback (./browser.ts, host posture; the pod's NetworkPolicy admits only public
 * addresses besides). The screenshot and text go into the workspace copy, which the push
 * phase saves; the report goes to stdout as one marked JSON line, which the worker reads
 * from the execution's result (./kubernetes/browser.ts).
 */
import { mkdir, writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { checkWorkspacePath } from '../shared/workspace-path.ts';
import { ChromiumHost } from './browser.ts';
import type { BrowseResult } from './browser.ts';
import { REPORT_MARK } from './browse.ts';
import type { BrowserCommand, OwnOutcome } from './types.ts';

/** Characters of the page's text the report carries for the log (the file holds it all). */
const REPORT_TEXT_CHARS = 16_000;

export async function browseExec(cmd: BrowserCommand, workspaceDir: string, signal: AbortSignal): Promise<OwnOutcome> {
  const started = performance.now();
  const host = new ChromiumHost(cmd.chromium, undefined);
  let r: BrowseResult;
  try {
    r = await host.browse({ page: cmd.page, egress: cmd.egress, maxPageBytes: cmd.maxPageBytes }, signal);
  } catch (err) {
    return { exitCode: 1, stdout: '', stderr: `browser: ${(err as Error).message.split('\n')[0]}`, durationMs: Math.round(performance.now() - started) };
  }
  const saved: { path: string; bytes: number }[] = [];
  const save = async (path: string, body: Buffer) => {
    const safe = checkWorkspacePath(path);
    const file = join(workspaceDir, safe);
    await mkdir(dirname(file), { recursive: true });
    await writeFile(file, body);
    saved.push({ path: safe, bytes: body.length });
  };
  if (cmd.files.screenshot && r.png) await save(cmd.files.screenshot, r.png);
  if (cmd.files.text && r.text !== undefined) await save(cmd.files.text, Buffer.from(r.text, 'utf8'));
  const report: BrowseResult = { ...r, png: undefined, text: r.text?.slice(0, REPORT_TEXT_CHARS), saved };
  return { exitCode: 0, stdout: `${REPORT_MARK}${JSON.stringify(report)}\n`, stderr: '', durationMs: Math.round(performance.now() - started) };
}
