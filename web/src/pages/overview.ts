// Overview: the cluster's nodes and their health, packets/s and bytes/s per protocol, drops, top talkers, over time.
import type { Page } from "../page";
import { on } from "../live";
import { bytes, esc, num } from "../api";

const PROTOCOLS = ["tcp", "udp", "icmp", "icmpv6", "other_l4"];
const HISTORY = 120;

export const overview: Page = {
  query: () => ({ limit: "10", sort: "rate" }),
  mount(root) {
    root.innerHTML = `
      <section class="panel"><h3>Nodes</h3><table id="nodes"><thead><tr><th>node</th><th>status</th><th>roles</th><th>interfaces</th><th class="n">rules in kernel</th><th>last heartbeat</th></tr></thead><tbody></tbody></table></section>
      <section class="panel"><h3>Traffic</h3><div class="grid" id="metrics"></div>
        <svg class="chart" id="chart" viewBox="0 0 ${HISTORY} 100" preserveAspectRatio="none"><polyline id="in" stroke="var(--accent)"/><polyline id="out" stroke="var(--good)"/></svg>
        <span class="muted">packets/s over the last ${HISTORY} s: <span class="legend-in">ingress</span>, <span class="legend-out">egress</span></span></section>
      <section class="panel"><h3>Top talkers</h3><table id="top"><thead><tr><th>node</th><th>flow</th><th class="n">bytes/s</th><th class="n">bytes</th></tr></thead><tbody></tbody></table></section>`;
    const history: { in: number; out: number }[] = [];
    const off = [
      on("Nodes", (members: any[]) => {
        root.querySelector("#nodes tbody")!.innerHTML = members.map((m) => `<tr>
          <td>${esc(m.node ?? m.address)}</td><td>${esc(m.status)}${m.reachable ? "" : " (unreachable)"}</td><td>${esc((m.roles ?? []).join(", "))}</td>
          <td>${esc((m.interfaces ?? []).map((i: any) => `${i.interface} ${i.state}${i.xdp_mode ? ` (XDP ${i.xdp_mode})` : ""}`).join(", "))}</td>
          <td class="n">${esc(m.rule_set_version ?? "")}</td><td>${esc(m.last_heartbeat ? new Date(m.last_heartbeat).toLocaleTimeString() : "")}</td></tr>`).join("");
      }),
      on("Stats", (update: any) => {
        const interfaces: any[] = update.stats?.interfaces ?? [];
        const sum = (hook: string, key: string, field: string) => interfaces.reduce((a, i) => a + (i[hook]?.[key]?.[field] ?? 0), 0);
        const cards = [
          ["ingress", `${num(sum("ingress", "total", "packets_per_second"))} pkt/s`, `${bytes(sum("ingress", "total", "bytes_per_second"))}/s`],
          ["egress", `${num(sum("egress", "total", "packets_per_second"))} pkt/s`, `${bytes(sum("egress", "total", "bytes_per_second"))}/s`],
          ["dropped by rules", `${num(sum("ingress", "drop", "packets"))} pkts`, `${num(sum("ingress", "drop", "packets_per_second"))}/s now`],
          ...PROTOCOLS.map((p) => [p, `${num(sum("ingress", p, "packets_per_second") + sum("egress", p, "packets_per_second"))} pkt/s`,
            `${bytes(sum("ingress", p, "bytes_per_second") + sum("egress", p, "bytes_per_second"))}/s`]),
        ];
        root.querySelector("#metrics")!.innerHTML = cards.map(([name, a, b]) => `<div class="metric" data-metric="${esc(name)}"><span>${esc(name)}</span><b>${esc(a)}</b><span>${esc(b)}</span></div>`).join("");
        history.push({ in: sum("ingress", "total", "packets_per_second"), out: sum("egress", "total", "packets_per_second") });
        if (history.length > HISTORY) history.shift();
        const max = Math.max(1, ...history.map((h) => Math.max(h.in, h.out)));
        const line = (f: (h: { in: number; out: number }) => number) =>
          history.map((h, x) => `${x + HISTORY - history.length},${100 - (f(h) / max) * 95}`).join(" ");
        root.querySelector("#in")!.setAttribute("points", line((h) => h.in));
        root.querySelector("#out")!.setAttribute("points", line((h) => h.out));
      }),
      on("Flows", (update: any) => {
        root.querySelector("#top tbody")!.innerHTML = (update.flows ?? []).slice(0, 10).map((f: any) => `<tr>
          <td>${esc(f.node)}</td><td>${esc(f.key)}</td><td class="n">${bytes(f.bytes_per_second)}</td><td class="n">${bytes(f.bytes)}</td></tr>`).join("");
      }),
    ];
    return () => off.forEach((o) => o());
  },
};
