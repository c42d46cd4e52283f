/**
 * The alerts of k8s/base/prometheus-rule.yaml as `kustomize build` renders them:
 * `promtool check rules`, then `promtool test rules` with k8s/alerts/tests.yaml,
 * which must make every alert fire once and stay quiet once; every expression
 * reads series our processes serve (agentrun_* declared in src/) or the Temporal
 * SDK's core exports (temporal_* named in its native module); every alert carries
 * a severity, a summary, a description and a runbook in docs/deploy.md; the
 * PodMonitor scrapes the metrics port of both Deployments' pods.
 * promtool is built by ./dev install --kube (.tools/k8s/bin/promtool); without it the
 * promtool tests skip and say so.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { copyFileSync, existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { after, describe, it } from 'node:test';
import { loadYaml, type KubernetesObject, type V1Deployment } from '@kubernetes/client-node';
import { ROOT, stackPaths } from '../../src/dev/context.ts';
import { buildOverlay, OVERLAYS } from '../../src/dev/services/kube/cluster.ts';
import { promtoolBin } from '../../src/dev/services/kube/layout.ts';

interface Rule { alert?: string; record?: string; expr: string; for?: string; labels?: Record<string, string>; annotations?: Record<string, string> }
interface RuleGroups { groups: { name: string; rules: Rule[] }[] }
interface PromtoolTests { tests: { name: string; alert_rule_test?: { alertname: string; exp_alerts?: unknown[] }[] }[] }

const paths = stackPaths(process.env);
const promtool = promtoolBin(paths);
const noPromtool = existsSync(promtool) ? false : `promtool is not built (${promtool}): run ./dev install --kube`;

/** The PrometheusRule's spec as an overlay renders it. */
function ruleGroups(overlay: typeof OVERLAYS[number]): RuleGroups {
  const rules = buildOverlay(paths, overlay).filter((o) => o.kind === 'PrometheusRule') as (KubernetesObject & { spec: RuleGroups })[];
  assert.equal(rules.length, 1, `${overlay} renders one PrometheusRule`);
  assert.equal(rules[0]!.apiVersion, 'monitoring.coreos.com/v1');
  return rules[0]!.spec;
}
const alerts = (g: RuleGroups) => g.groups.flatMap((x) => x.rules).filter((r) => r.alert);

/** GitHub's heading anchors: lower case, punctuation dropped, spaces to dashes. */
const anchor = (heading: string) => heading.trim().toLowerCase().replace(/[^\p{L}\p{N}\s_-]/gu, '').replace(/\s/g, '-');

describe('alerts (PrometheusRule: promtool check and unit tests)', { timeout: 300_000 }, () => {
  const tmp = mkdtempSync(join(tmpdir(), 'agentrun-alerts-'));
  after(() => rmSync(tmp, { recursive: true, force: true }));
  const groups = ruleGroups('production');
  // JSON is YAML: promtool reads the rule groups as the operator hands them to Prometheus.
  writeFileSync(join(tmp, 'rules.yaml'), JSON.stringify(groups, null, 2));
  copyFileSync(join(ROOT, 'k8s', 'alerts', 'tests.yaml'), join(tmp, 'tests.yaml'));

  it('every overlay renders the same rules', () => {
    for (const overlay of OVERLAYS) assert.deepEqual(ruleGroups(overlay), groups, overlay);
  });

  it('promtool check rules: the rules parse, and name no series the linter objects to', { skip: noPromtool }, () => {
    const r = spawnSync(promtool, ['check', 'rules', 'rules.yaml'], { cwd: tmp, encoding: 'utf8' });
    assert.equal(r.status, 0, `${r.stdout}\n${r.stderr}`);
    assert.match(r.stdout, new RegExp(`SUCCESS: ${alerts(groups).length} rules found`));
  });

  it('promtool test rules: k8s/alerts/tests.yaml passes', { skip: noPromtool }, () => {
    const r = spawnSync(promtool, ['test', 'rules', 'tests.yaml'], { cwd: tmp, encoding: 'utf8' });
    assert.equal(r.status, 0, `${r.stdout}\n${r.stderr}`);
    assert.match(r.stdout, /SUCCESS/);
  });

  it('every alert has a test where it fires and one where it stays quiet', () => {
    const tests = loadYaml<PromtoolTests>(readFileSync(join(ROOT, 'k8s', 'alerts', 'tests.yaml'), 'utf8')).tests;
    const cases = tests.flatMap((t) => t.alert_rule_test ?? []);
    for (const { alert } of alerts(groups)) {
      assert.ok(cases.some((c) => c.alertname === alert && (c.exp_alerts?.length ?? 0) > 0), `a test where ${alert} fires`);
      assert.ok(cases.some((c) => c.alertname === alert && (c.exp_alerts?.length ?? 0) === 0), `a test where ${alert} stays quiet`);
    }
    const names = new Set(alerts(groups).map((r) => r.alert));
    for (const c of cases) assert.ok(names.has(c.alertname), `tests.yaml names ${c.alertname}, which is no alert`);
  });

  it('every series an alert reads is one our processes or the Temporal SDK serve', () => {
    const ours = ['src/api/metrics.ts', 'src/worker/metrics.ts'].map((f) => readFileSync(join(ROOT, f), 'utf8')).join('\n');
    // The SDK's metrics come from its Rust core: their names are strings in the native module.
    const require = createRequire(import.meta.url);
    const bridge = dirname(require.resolve('@temporalio/core-bridge/package.json'));
    const native = readFileSync(join(bridge, 'releases', 'x86_64-unknown-linux-gnu', 'index.node')).toString('latin1');
    for (const rule of alerts(groups)) {
      const series = [...new Set(rule.expr.match(/\b(?:agentrun|temporal)_[a-z0-9_]+/g) ?? [])];
      assert.ok(series.length > 0, `${rule.alert} reads a series of ours`);
      for (const s of series) {
        if (s.startsWith('agentrun_')) {
          assert.ok(ours.includes(`name: '${s}'`), `${rule.alert}: ${s} is declared in src/api/metrics.ts or src/worker/metrics.ts`);
        } else {
          // The worker's exporter adds temporal_ and, for counters, _total (countersTotalSuffix); histograms get _bucket/_count/_sum.
          const core = s.replace(/^temporal_/, '').replace(/_(total|bucket|count|sum)$/, '');
          assert.ok(native.includes(core), `${rule.alert}: ${s} (${core}) is a metric of the Temporal SDK's core`);
        }
      }
    }
  });

  it('the PodMonitor scrapes the metrics port of the API and worker pods, where they serve /metrics', () => {
    for (const overlay of OVERLAYS) {
      const objs = buildOverlay(paths, overlay);
      const monitors = objs.filter((o) => o.kind === 'PodMonitor') as (KubernetesObject & {
        spec: { selector: { matchExpressions: { key: string; operator: string; values: string[] }[] }; podMetricsEndpoints: { port: string; path: string }[] };
      })[];
      assert.equal(monitors.length, 1, `${overlay} renders one PodMonitor`);
      const [monitor] = monitors;
      const [endpoint] = monitor!.spec.podMetricsEndpoints;
      assert.equal(endpoint!.path, '/metrics');
      for (const d of objs.filter((o) => o.kind === 'Deployment') as (V1Deployment & KubernetesObject)[]) {
        assert.equal(d.metadata!.namespace, monitor!.metadata!.namespace, `${overlay} ${d.metadata!.name} is in the PodMonitor's namespace`);
        const labels = d.spec!.template.metadata!.labels!;
        assert.ok(monitor!.spec.selector.matchExpressions.every((e) => e.operator === 'In' && e.values.includes(labels[e.key]!)), `${overlay}: the PodMonitor selects ${d.metadata!.name}`);
        const container = d.spec!.template.spec!.containers[0]!;
        const port = container.ports?.find((p) => p.name === endpoint!.port);
        assert.ok(port, `${overlay} ${d.metadata!.name} names a port ${endpoint!.port}`);
        const env = Object.fromEntries((container.env ?? []).map((e) => [e.name, e.value]));
        const prefix = d.metadata!.name === 'agentrun-api' ? 'API' : 'WORKER';
        assert.equal(env[`${prefix}_METRICS_PORT`], String(port.containerPort), `${d.metadata!.name} serves /metrics on that port`);
        assert.equal(env[`${prefix}_METRICS_HOST`], '0.0.0.0', `${d.metadata!.name} serves /metrics beyond loopback`);
      }
    }
  });

  it('every alert has a severity, a summary, a description and a runbook section in docs/deploy.md', () => {
    const guide = join(ROOT, 'docs', 'deploy.md');
    const anchors = existsSync(guide)
      ? new Set([...readFileSync(guide, 'utf8').matchAll(/^#{1,6}\s+(.+)$/gm)].map((m) => anchor(m[1]!)))
      : undefined;
    for (const rule of alerts(groups)) {
      assert.match(rule.labels?.severity ?? '', /^(warning|critical)$/, `${rule.alert} severity`);
      assert.ok(rule.annotations?.summary && rule.annotations.description, `${rule.alert} summary and description`);
      const m = /^docs\/deploy\.md#([a-z0-9_-]+)$/.exec(rule.annotations.runbook_url ?? '');
      assert.ok(m, `${rule.alert} runbook_url names a section of docs/deploy.md`);
      if (anchors) assert.ok(anchors.has(m[1]!), `docs/deploy.md has a heading for #${m[1]} (${rule.alert})`);
    }
  });
});
