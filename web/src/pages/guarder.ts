// Guarder: the rule list with its live hit counters, an add form that shows the server's validation error by the
// field, enable/disable toggles, deletion, and the built-in presets. Changes go through the live hub with the token.
import type { Page } from "../page";
import { invoke, on, reconnect } from "../live";
import { esc, getJson, num, setToken, token } from "../api";

interface Reply { status: number; body: any; version: number | null }

const FIELDS: [string, string, string?][] = [
  ["rule_type", "select:basic,tcp,udp,icmp"], ["protocol", "text", "tcp, udp, icmp or a number"], ["src_ip", "text", "any, 10.0.0.0/8, fd00::1"],
  ["dst_ip", "text"], ["src_port", "text", "22 or 1000-2000"], ["dst_port", "text"], ["icmp_type", "text"], ["icmp_code", "text"],
  ["action", "select:drop,allow,monitor"], ["priority", "text"], ["comment", "text"],
];

function describe(r: any): string {
  const parts = [r.protocol && r.protocol !== "any" ? r.protocol : "", r.src_ip && r.src_ip !== "any" ? `from ${r.src_ip}${r.src_port ? ":" + r.src_port : ""}` : "",
    r.dst_ip && r.dst_ip !== "any" ? `to ${r.dst_ip}` : "", r.dst_port ? `port ${r.dst_port}` : "", r.icmp_type != null ? `type ${r.icmp_type}` : ""];
  return parts.filter(Boolean).join(" ") || "everything";
}

export const guarder: Page = {
  mount(root) {
    root.innerHTML = `
      <section class="panel"><h3 id="form-title">Add a rule</h3>
        <p class="muted" id="token-line">Changes need the node's API token (DATA/api-token): <input id="token" type="password" size="30" /> <button type="button" id="save-token">Keep</button></p>
        <form class="rule" id="add">${FIELDS.map(([name, kind, hint]) => `<label>${name}${kind.startsWith("select:")
          ? `<select name="${name}">${kind.slice(7).split(",").map((o) => `<option>${o}</option>`).join("")}</select>`
          : `<input name="${name}" placeholder="${esc(hint ?? "")}" />`}<span class="error" data-error="${name}"></span></label>`).join("")}
          <label>enabled<input type="checkbox" name="enabled" checked /></label>
          <div><button type="submit" id="submit">Add rule</button> <button type="button" id="cancel" hidden>Cancel</button><span class="error" data-error="form"></span></div></form></section>
      <section class="panel"><h3>Rules <span class="muted" id="version"></span></h3><table id="rules"><thead><tr><th class="n">id</th><th class="n">priority</th><th>matches</th><th>action</th><th>enabled</th>
        <th class="n">hits</th><th class="n">bytes</th><th>last hit</th><th>comment</th><th></th></tr></thead><tbody></tbody></table><span class="error" data-error="table"></span></section>
      <section class="panel"><h3>Presets</h3><table id="presets"><tbody></tbody></table></section>`;
    const form = root.querySelector<HTMLFormElement>("#add")!;
    const tokenInput = root.querySelector<HTMLInputElement>("#token")!;
    tokenInput.value = token() ?? "";
    const useToken = async () => {
      if (tokenInput.value.trim() && tokenInput.value.trim() !== token()) {
        setToken(tokenInput.value);
        await reconnect();
      }
    };
    root.querySelector("#save-token")!.addEventListener("click", useToken);
    const errors = () => root.querySelectorAll<HTMLElement>("[data-error]").forEach((e) => (e.textContent = ""));
    const show = (reply: Reply, fallback: string) => {
      const field = reply.body?.field as string | undefined;
      const slot = (field && form.querySelector<HTMLElement>(`[data-error="${field}"]`)) || root.querySelector<HTMLElement>(`[data-error="${fallback}"]`)!;
      slot.textContent = reply.body?.reason ?? reply.body?.error ?? `refused (${reply.status})`;
    };
    const change = async (method: string, fallback: string, ...args: unknown[]) => {
      await useToken();
      let reply: Reply;
      try {
        reply = await invoke<Reply>(method, ...args);
      } catch (e: any) {
        reply = { status: 503, body: { error: `not sent: ${e?.message ?? e} (the live connection is down?)` }, version: null };
      }
      if (reply.status >= 300) show(reply, fallback);
      return reply;
    };
    // Editing: the form holds the rule; submit sends what it holds as an update (a field emptied goes back to "any").
    let editing: number | null = null;
    const setEditing = (id: number | null) => {
      editing = id;
      root.querySelector("#form-title")!.textContent = id === null ? "Add a rule" : `Edit rule ${id}`;
      root.querySelector("#submit")!.textContent = id === null ? "Add rule" : "Save";
      (root.querySelector("#cancel") as HTMLElement).hidden = id === null;
      if (id === null) form.reset();
    };
    root.querySelector("#cancel")!.addEventListener("click", () => { errors(); setEditing(null); });
    let latest: any[] = [];
    form.addEventListener("submit", async (e) => {
      e.preventDefault();
      errors();
      const rule: Record<string, unknown> = { enabled: (form.elements.namedItem("enabled") as HTMLInputElement).checked };
      for (const [name, kind] of FIELDS) {
        const value = String((form.elements.namedItem(name) as HTMLInputElement).value).trim();
        // Editing, an emptied field means "any": the parser's own words for it (null is refused for the protocol).
        if (!value) {
          if (editing !== null && !kind.startsWith("select:"))
            rule[name] = name === "protocol" || name.endsWith("_ip") ? "any" : name.endsWith("_port") ? 0 : name === "comment" ? "" : null;
          continue;
        }
        rule[name] = !kind.startsWith("select:") && /^\d+$/.test(value) && name !== "comment" && !name.endsWith("_ip") ? Number(value) : value;
      }
      const reply = editing === null ? await change("AddFilter", "form", rule) : await change("UpdateFilter", "form", editing, rule);
      if (reply.status < 300) setEditing(null);
    });
    const table = root.querySelector("#rules tbody")!;
    table.addEventListener("click", async (e) => {
      const target = e.target as HTMLElement;
      const id = Number(target.closest("tr")?.dataset.id);
      errors();
      if (target.matches("input[type=checkbox]")) await change("SetFilterEnabled", "table", id, (target as HTMLInputElement).checked);
      else if (target.matches("button.delete")) await change("DeleteFilter", "table", id);
      else if (target.matches("button.edit")) {
        const r = latest.find((x) => x.id === id);
        if (!r) return;
        setEditing(id);
        for (const [name] of FIELDS) {
          const v = r[name];
          (form.elements.namedItem(name) as HTMLInputElement).value = v === null || v === undefined || v === "any" ? "" : String(v);
        }
        (form.elements.namedItem("enabled") as HTMLInputElement).checked = !!r.enabled;
      }
    });
    getJson<any[]>("api/filters/presets").then((presets) => {
      const tbody = root.querySelector("#presets tbody")!;
      tbody.innerHTML = presets.map((p, i) => `<tr><td>${esc(p.comment)}</td><td>${esc(describe(p))}</td><td>${esc(p.action)}</td><td><button type="button" data-preset="${i}">Add (disabled)</button></td></tr>`).join("");
      tbody.addEventListener("click", (e) => {
        const i = (e.target as HTMLElement).dataset.preset;
        if (i !== undefined) { errors(); change("AddFilter", "table", presets[Number(i)]); }
      });
    }).catch(() => {});
    const off = on("Rules", (update: any) => {
      latest = update.rules ?? [];
      root.querySelector("#version")!.textContent = `version ${update.version}`;
      table.innerHTML = (update.rules ?? []).map((r: any) => `<tr data-id="${Number(r.id)}">
        <td class="n">${Number(r.id)}</td><td class="n">${Number(r.priority)}</td><td>${esc(describe(r))}</td><td>${esc(r.action)}</td>
        <td><input type="checkbox" aria-label="enabled" ${r.enabled ? "checked" : ""} /></td>
        <td class="n" data-hits>${num(r.hits?.packets ?? 0)}</td><td class="n">${num(r.hits?.bytes ?? 0)}</td>
        <td>${esc(r.hits?.last_hit ? new Date(r.hits.last_hit).toLocaleTimeString() : "")}</td><td>${esc(r.comment)}</td>
        <td><button type="button" class="edit">Edit</button> <button type="button" class="delete">Delete</button></td></tr>`).join("");
    });
    return off;
  },
};
