/** README's configuration table, generated from the variable table (`./dev config-table`). */
import { CONFIG_VARS } from './vars.ts';

/** Markdown table of every variable, for README.md (`./dev config-table`). */
export function configTable(): string {
  const rows = Object.entries(CONFIG_VARS).map(
    ([name, spec]) => {
      const def = spec.default !== undefined ? `\`${spec.default}\`` : spec.schema.safeParse(undefined).success ? '—' : '*required*';
      return `| \`${name}\` | ${def} | ${spec.description} |`;
    },
  );
  return ['| variable | default | what |', '|---|---|---|', ...rows].join('\n');
}
