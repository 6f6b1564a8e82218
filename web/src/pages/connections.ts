// Connections: a live table of the scope's flows, filtered, sorted and paged on the server (the /api/connections
// query with offset and limit): the browser holds one page, however many flows match; a row opens its counters.
import { follow, type Page } from "../page";
import { on } from "../live";
import { bytes, esc, num } from "../api";

let query: Record<string, string> = { sort: "bytes", limit: "200", offset: "0" };

export const connections: Page = {
  query: () => query,
  mount(root) {
    query = { ...query, offset: "0" }; // a page left, or another scope: back to the first page
    root.innerHTML = `
      <section class="panel"><form class="filters" id="filters">
        <label>protocol<select name="protocol"><option value="">any</option><option>tcp</option><option>udp</option><option>icmp</option><option>icmpv6</option></select><span class="error" data-error="protocol"></span></label>
        <label>address or CIDR<input name="address" placeholder="10.0.0.0/8" /><span class="error" data-error="address"></span></label>
        <label>port<input name="port" size="6" /><span class="error" data-error="port"></span></label>
        <label>state<input name="state" size="10" placeholder="established" /><span class="error" data-error="state"></span></label>
        <label>rows per page<select name="limit"><option>50</option><option selected>200</option><option>1000</option></select><span class="error" data-error="limit"></span></label>
        <button type="submit">Apply</button><span class="muted" id="count"></span>
      </form></section>
      <section class="panel scroll"><table id="flows"><thead><tr>
        <th>node</th><th>interface</th><th>proto</th><th>source</th><th>destination</th><th>state</th>
        <th class="n" data-sort="packets">packets</th><th class="n" data-sort="bytes">bytes</th><th class="n" data-sort="rate">bytes/s</th><th data-sort="last_seen">last seen</th>
      </tr></thead><tbody></tbody></table>
      <div><button type="button" id="prev">◀</button> <span id="pageno"></span> <button type="button" id="next">▶</button></div></section>
      <section class="panel" id="detail" hidden></section>`;
    const form = root.querySelector<HTMLFormElement>("#filters")!;
    for (const [k, v] of Object.entries(query)) {
      const field = form.elements.namedItem(k) as HTMLInputElement | null;
      if (field) field.value = v;
    }
    let rows: any[] = [];
    let total = 0;
    let selected: string | null = null;
    const size = () => Number(query.limit ?? 200);
    const render = () => {
      const pages = Math.max(1, Math.ceil(total / size()));
      root.querySelector("#pageno")!.textContent = `page ${Math.floor(Number(query.offset ?? 0) / size()) + 1} of ${pages}`;
      root.querySelector("#flows tbody")!.innerHTML = rows.map((f) => `<tr data-key="${esc(f.node + "|" + f.key)}">
        <td>${esc(f.node)}</td><td>${esc(f.interface)}</td><td>${esc(f.protocol)}</td><td>${esc(f.src)}:${Number(f.src_port)}</td><td>${esc(f.dst)}:${Number(f.dst_port)}</td>
        <td>${esc(f.state)}</td><td class="n">${num(f.packets)}</td><td class="n">${bytes(f.bytes)}</td><td class="n">${bytes(f.bytes_per_second)}</td>
        <td>${esc(new Date(f.last_seen).toLocaleTimeString())}</td></tr>`).join("");
      const flow = rows.find((f) => f.node + "|" + f.key === selected);
      const detail = root.querySelector<HTMLElement>("#detail")!;
      detail.hidden = !flow;
      if (flow) {
        const side = (name: string, d: any) => `<tr><th>${name}</th><td class="n">${num(d.packets)}</td><td class="n">${bytes(d.bytes)}</td><td class="n">${bytes(d.data_bytes)}</td>
          <td>${esc((d.tcp_flag_names ?? []).join(" "))}</td><td class="n">${d.retransmits}</td><td class="n">${d.out_of_order}</td><td class="n">${d.dup_acks}</td><td class="n">${d.zero_windows}</td><td class="n">${d.ttl}</td></tr>`;
        detail.innerHTML = `<h3>${esc(flow.key)} <span class="muted">on ${esc(flow.node)} ${esc(flow.interface)}, ${esc(flow.state)}</span></h3>
          <table><thead><tr><th></th><th class="n">packets</th><th class="n">bytes</th><th class="n">data bytes</th><th>TCP flags</th><th class="n">retransmits</th><th class="n">out of order</th><th class="n">dup ACKs</th><th class="n">zero windows</th><th class="n">TTL</th></tr></thead>
          <tbody>${side("orig (" + esc(flow.src) + ")", flow.orig)}${side("reply (" + esc(flow.dst) + ")", flow.reply)}</tbody></table>
          <p class="muted">first seen ${esc(new Date(flow.first_seen).toLocaleString())}, ${esc(flow.info)}</p>`;
      }
    };
    const apply = async (offset = 0) => {
      form.querySelectorAll<HTMLElement>("[data-error]").forEach((e) => (e.textContent = ""));
      const next: Record<string, string> = { sort: query.sort ?? "bytes", offset: String(offset) };
      for (const [k, v] of new FormData(form).entries()) if (String(v).trim()) next[k] = String(v).trim();
      try {
        await follow(next);
        query = next;
      } catch (e: any) {
        // "invalid parameter 'port': ..." from the server: shown by that field.
        const m = /invalid parameter '([a-z_]+)': (.*)/.exec(String(e?.message ?? e));
        const slot = m && form.querySelector<HTMLElement>(`[data-error="${m[1]}"]`);
        if (slot) slot.textContent = m![2];
        else root.querySelector("#count")!.textContent = String(e?.message ?? e);
      }
    };
    form.addEventListener("submit", (e) => {
      e.preventDefault();
      apply();
    });
    root.querySelectorAll<HTMLElement>("th[data-sort]").forEach((th) =>
      th.addEventListener("click", () => {
        query = { ...query, sort: th.dataset.sort! };
        apply();
      }));
    const offset = () => Number(query.offset ?? 0);
    root.querySelector("#prev")!.addEventListener("click", () => apply(Math.max(0, offset() - size())));
    root.querySelector("#next")!.addEventListener("click", () => { if (offset() + size() < total) apply(offset() + size()); });
    root.querySelector("#flows tbody")!.addEventListener("click", (e) => {
      const tr = (e.target as HTMLElement).closest("tr");
      selected = tr?.dataset.key ?? null;
      render();
    });
    const off = on("Flows", (update: any) => {
      rows = update.flows ?? [];
      total = update.total ?? 0;
      const missing = (update.missing ?? []).length ? ` (no answer from ${update.missing.join(", ")})` : "";
      root.querySelector("#count")!.textContent = `${total} flows${missing}`;
      render();
    });
    return off;
  },
};
