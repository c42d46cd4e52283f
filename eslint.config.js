// Lint is part of `npm test`: type-aware rules catch floating promises, which
// is how a worker silently stops doing its job.
import js from '@eslint/js';
import tseslint from 'typescript-eslint';


// The layers of src/ (ARCHITECTURE.md): what each folder may import of ours. Entry points
// (api, worker, runner, dev) are imported by nothing; tests may import anything.
const LAYERS = {
  shared: [],
  client: ['shared'],
  infra: ['shared'],
  store: ['shared', 'infra'],
  llm: ['shared', 'infra'],
  sandbox: ['shared', 'infra'],
  workspace: ['shared', 'infra'],
  workflows: ['shared'],
  activities: ['shared', 'infra', 'store', 'llm', 'sandbox', 'workspace'],
  runs: ['shared', 'infra', 'store', 'workspace', 'workflows'],
  ingress: ['shared', 'infra', 'store', 'runs'],
  accounts: ['shared', 'infra', 'store', 'runs'],
  api: ['shared', 'infra', 'store', 'workspace', 'workflows', 'runs', 'ingress', 'accounts'],
  worker: ['shared', 'infra', 'store', 'llm', 'sandbox', 'workspace', 'workflows', 'activities'],
  runner: ['shared', 'infra', 'sandbox', 'workspace'],
  dev: ['shared', 'infra', 'store', 'client'],
  cli: ['shared', 'client'],
  web: ['client'],
};
const WORKFLOW_EXTRA = [
  { group: ['node:*', 'fs', 'path', 'child_process', 'ioredis', '@aws-sdk/*', 'pino'], message: 'Workflow code is deterministic: no I/O or Node built-ins.' },
  { group: ['../activities/*', '../activities/**'], allowTypeImports: true, message: 'Workflows import activities as types only.' },
];
/** The web page and the client it shares with the CLI run in browsers: no Node modules, no packages. */
const BROWSER_EXTRA = [{ regex: '^(node:|[a-z@])', message: 'src/web and src/client run in browsers: fetch and the DOM only, no Node modules or packages.' }];
const layerRules = Object.entries(LAYERS).map(([folder, allowed]) => {
  const banned = Object.keys(LAYERS).filter((f) => f !== folder && !allowed.includes(f) && !(folder === 'workflows' && f === 'activities'));
  // Our folders only (relative paths): a package's own subpath named like a layer (@modelcontextprotocol/sdk/client/…) is not one.
  const patterns = banned.length === 0 ? [] : [{
    regex: `^(\\.\\./)+(${banned.join('|')})/`,
    message: `src/${folder} may import only ${allowed.length ? allowed.map((f) => `src/${f}`).join(', ') : 'nothing of ours'} (the layers in ARCHITECTURE.md and README's map of src/).`,
  }];
  if (folder === 'workflows') patterns.push(...WORKFLOW_EXTRA);
  if (folder === 'web' || folder === 'client') patterns.push(...BROWSER_EXTRA);
  return { files: [`src/${folder}/**/*.ts`], rules: { 'no-restricted-imports': ['error', { patterns }] } };
});

export default tseslint.config(
  { ignores: ['node_modules/**', '.tools/**', '.data/**'] },
  js.configs.recommended,
  ...tseslint.configs.recommendedTypeChecked,
  {
    languageOptions: { parserOptions: { projectService: true, tsconfigRootDir: import.meta.dirname } },
    rules: {
      '@typescript-eslint/no-floating-promises': ['error', {
        allowForKnownSafeCalls: [{ from: 'package', package: 'node:test', name: ['describe', 'it', 'test', 'suite', 'before', 'after'] }],
      }],
      '@typescript-eslint/no-misused-promises': ['error', { checksVoidReturn: { arguments: false } }],
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_' }],
      '@typescript-eslint/consistent-type-imports': 'error',
      // Activities and interfaces are async by contract even when a body needs no await.
      '@typescript-eslint/require-await': 'off',
    },
  },
  ...layerRules,
);
