// ICMP: the scope's ICMP and ICMPv6 traffic by type and code, errors with the packet they quote.
import type { Page } from "../page";
import { on } from "../live";
import { bytes, esc, num } from "../api";

export const icmp: Page = {
  mount(root) {
    root.innerHTML = `
      <section class="panel"><h3>By type</h3><table id="types"><thead><tr><th>family</th><th>direction</th><th>type</th><th class="n">packets</th><th class="n">bytes</th></tr></thead><tbody></tbody></table></section>
      <section class="panel scroll"><h3>Messages</h3><table id="messages"><thead><tr><th>node</th><th>interface</th><th>direction</th><th>type</th><th>source</th><th>destination</th>
        <th class="n">packets</th><th class="n">pkt/s</th><th>quoted packet</th><th>last seen</th></tr></thead><tbody></tbody></table></section>`;
    const off = [
      on("Icmp", (update: any) => {
        root.querySelector("#messages tbody")!.innerHTML = (update.messages ?? []).map((m: any) => `<tr class="${m.is_error ? "error-row" : ""}">
          <td>${esc(m.node)}</td><td>${esc(m.interface)}</td><td>${esc(m.direction)}</td><td>${esc(m.type_name)} (${m.type}/${m.code})</td>
          <td>${esc(m.src)}</td><td>${esc(m.dst)}</td><td class="n">${num(m.packets)}</td><td class="n">${num(m.packets_per_second)}</td>
          <td>${m.inner ? esc(`${m.inner.protocol} ${m.inner.src}:${m.inner.src_port} → ${m.inner.dst}:${m.inner.dst_port}`) : ""}</td>
          <td>${esc(new Date(m.last_seen).toLocaleTimeString())}</td></tr>`).join("");
      }),
      on("Stats", (update: any) => {
        const rows: any[] = (update.stats?.interfaces ?? []).flatMap((i: any) => i.icmp_types ?? []);
        root.querySelector("#types tbody")!.innerHTML = rows.map((t) => `<tr><td>${esc(t.family)}</td><td>${esc(t.direction)}</td>
          <td>${esc(t.type_name)} (${t.type}/${t.code})</td><td class="n">${num(t.packets)}</td><td class="n">${bytes(t.bytes)}</td></tr>`).join("");
      }),
    ];
    return () => off.forEach((o) => o());
  },
};
