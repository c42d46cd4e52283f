/** The page's DOM helpers: elements from a tag, attributes and children; a view's root emptied and refilled. */

export type Child = Node | string | null | undefined | false;

/** `<tag …attrs>children</tag>`; `on…` attributes are listeners, `false`/`undefined` attributes are left out. */
export function h<K extends keyof HTMLElementTagNameMap>(tag: K, attrs: Record<string, unknown> = {}, ...children: Child[]): HTMLElementTagNameMap[K] {
  const el = document.createElement(tag);
  for (const [name, value] of Object.entries(attrs)) {
    if (value === undefined || value === false || value === null) continue;
    if (name.startsWith('on') && typeof value === 'function') el.addEventListener(name.slice(2), value as EventListener);
    else if (value === true) el.setAttribute(name, '');
    else el.setAttribute(name, typeof value === 'string' || typeof value === 'number' ? String(value) : JSON.stringify(value));
  }
  for (const c of children) if (c !== null && c !== undefined && c !== false) el.append(c);
  return el;
}

export function replace(parent: Element, ...children: Child[]): void {
  parent.replaceChildren(...children.filter((c): c is Node | string => c !== null && c !== undefined && c !== false));
}

/** Shows a refusal or failure for people (role=alert), or hides it. */
export function notice(message: string | undefined): void {
  const el = document.getElementById('notice')!;
  el.textContent = message ?? '';
  el.hidden = !message;
}

export const statusBadge = (status: string) => h('span', { class: `status status-${status}`, 'data-status': status }, status);
