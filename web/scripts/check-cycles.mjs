// Fails the build when the front end's modules import each other in a circle (src/**/*.ts, relative imports).
import { readFileSync, readdirSync, statSync } from "node:fs";
import { dirname, join, relative, resolve } from "node:path";

const root = resolve(process.argv[2] ?? "src");
const files = [];
(function walk(dir) {
  for (const name of readdirSync(dir)) {
    const path = join(dir, name);
    if (statSync(path).isDirectory()) walk(path);
    else if (path.endsWith(".ts")) files.push(path);
  }
})(root);

const importRe = /^\s*(?:import|export)\b[^"']*?from\s*["'](\.[^"']+)["']|^\s*import\s*["'](\.[^"']+)["']/gm;
const edges = new Map();
for (const file of files) {
  const targets = [];
  for (const m of readFileSync(file, "utf8").matchAll(importRe)) {
    const spec = m[1] ?? m[2];
    const target = resolve(dirname(file), spec.endsWith(".ts") ? spec : `${spec}.ts`);
    if (files.includes(target)) targets.push(target);
  }
  edges.set(file, targets);
}

const state = new Map(); // 1: on the current path, 2: done
const cycles = [];
function visit(file, path) {
  state.set(file, 1);
  for (const next of edges.get(file)) {
    if (state.get(next) === 1) cycles.push([...path.slice(path.indexOf(next)), next]);
    else if (!state.has(next)) visit(next, [...path, next]);
  }
  state.set(file, 2);
}
for (const file of files) if (!state.has(file)) visit(file, [file]);

if (cycles.length > 0) {
  for (const c of cycles) console.error(`import cycle: ${c.map((f) => relative(root, f)).join(" -> ")}`);
  process.exit(1);
}
console.log(`no import cycle among ${files.length} modules`);
