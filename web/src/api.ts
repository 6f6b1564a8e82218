// REST reads and the API token (asked for when a change needs it). The token lives in this tab's sessionStorage: gone
// when the tab closes, never written to the profile on disk, never shared with other tabs (localStorage would be all three).
export function token(): string | null {
  return sessionStorage.getItem("packetscope-token");
}

export function setToken(value: string): void {
  sessionStorage.setItem("packetscope-token", value.trim());
}

export async function getJson<T>(path: string): Promise<T> {
  const response = await fetch(path, { headers: token() ? { Authorization: `Bearer ${token()}` } : {} });
  if (!response.ok) throw new Error(`${path}: ${response.status}`);
  return response.json() as Promise<T>;
}

/** Escapes text for HTML. */
export function esc(value: unknown): string {
  return String(value ?? "").replace(/[&<>"']/g, (c) => ({ "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" })[c]!);
}

export function num(n: number): string {
  return n >= 1e9 ? (n / 1e9).toFixed(1) + "G" : n >= 1e6 ? (n / 1e6).toFixed(1) + "M" : n >= 1e4 ? (n / 1e3).toFixed(1) + "k" : String(Math.round(n));
}

export function bytes(n: number): string {
  return n >= 1 << 30 ? (n / (1 << 30)).toFixed(1) + " GiB" : n >= 1 << 20 ? (n / (1 << 20)).toFixed(1) + " MiB" : n >= 1024 ? (n / 1024).toFixed(1) + " KiB" : `${n} B`;
}
