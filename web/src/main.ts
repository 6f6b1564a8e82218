// The dashboard shell: hash routes, the scope picker (whole cluster or one node), the live badge, the theme.
import "./style.css";
import { on, onState, start } from "./live";
import { follow, setScopeSource, type Page } from "./page";
import { overview } from "./pages/overview";
import { connections } from "./pages/connections";
import { icmp } from "./pages/icmp";
import { guarder } from "./pages/guarder";

const pages: Record<string, Page> = { overview, connections, icmp, guarder };
const root = document.getElementById("page")!;
const scopeSelect = document.getElementById("scope") as HTMLSelectElement;
let unmount: (() => void) | null = null;
let current = "";

function scope(): string | null {
  return scopeSelect.value || null;
}

setScopeSource(scope);

function route() {
  const name = location.hash.replace(/^#\//, "") || "overview";
  const page = pages[name] ?? overview;
  unmount?.();
  current = name;
  document.querySelectorAll<HTMLAnchorElement>("nav a").forEach((a) => a.classList.toggle("active", a.dataset.page === name));
  unmount = page.mount(root, scope());
  follow(page.query?.() ?? {}).catch(() => {});
}

window.addEventListener("hashchange", route);
scopeSelect.addEventListener("change", route);

// Nodes for the scope picker, from the members push.
on("Nodes", (members: any[]) => {
  const names = members.filter((m) => m.node && m.roles?.includes("sensor")).map((m) => m.node as string).sort();
  const have = [...scopeSelect.options].slice(1).map((o) => o.value);
  if (names.join() === have.join()) return;
  const selected = scopeSelect.value;
  scopeSelect.length = 1;
  for (const n of names) scopeSelect.add(new Option(n, n, false, n === selected));
});

const badge = document.getElementById("live")!;
onState((s) => {
  badge.className = `badge ${s === "live" ? "up" : "down"}`;
  badge.textContent = s === "live" ? "live" : s === "connecting" ? "connecting" : "offline: reconnecting";
});

const themeButton = document.getElementById("theme")!;
document.documentElement.dataset.theme = localStorage.getItem("packetscope-theme") ?? "dark";
themeButton.addEventListener("click", () => {
  const next = document.documentElement.dataset.theme === "dark" ? "light" : "dark";
  document.documentElement.dataset.theme = next;
  localStorage.setItem("packetscope-theme", next);
});

route();
start();
void current;
