// What a page is and what it may ask of the shell: the pages import this module, never main.ts (which imports them).
import { subscribe } from "./live";

export interface Page {
  /** Renders into root; returns what to undo when the page is left. */
  mount(root: HTMLElement, scope: string | null): () => void;
  /** The connection query this page wants pushed (the Connections page's filters). */
  query?(): Record<string, string>;
}

let currentScope: () => string | null = () => null;

/** Set by the shell: where the scope picker's value comes from (the whole cluster: null). */
export function setScopeSource(source: () => string | null): void {
  currentScope = source;
}

/** Follows this query in the shell's current scope (the pushes that come back replace the page's data). */
export async function follow(query: Record<string, string>): Promise<void> {
  await subscribe(currentScope(), query);
}
