// The dashboard is built into dist/, which the node serves as its web root (src/Web copies it into wwwroot).
import { defineConfig } from "vite";

export default defineConfig({
  base: "./",
  build: { outDir: "dist", emptyOutDir: true, sourcemap: true },
});
