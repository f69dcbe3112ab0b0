import { readFileSync } from "node:fs";
import { createRequire } from "node:module";
import { dirname, join } from "node:path";
import { build, defineConfig, type Plugin } from "vite";

const require = createRequire(import.meta.url);

/** Swagger UI for GET /api/docs, served as our own static files: nothing comes from a CDN at run time. */
function swaggerUiAssets(): Plugin {
  const dist = dirname(require.resolve("swagger-ui-dist/package.json"));
  return {
    name: "pairly:swagger-ui-assets",
    apply: "build",
    generateBundle() {
      for (const file of ["swagger-ui-bundle.js", "swagger-ui.css"]) {
        this.emitFile({ type: "asset", fileName: `vendor/swagger-ui/${file}`, source: readFileSync(join(dist, file)) });
      }
    },
  };
}

/**
 * The service worker (web/src/sw.ts) as /sw.js: at the root, so its scope is the whole app, under a
 * fixed name (a hashed one would register a new worker on every release), and as one classic script
 * that shares no chunk with the pages (module service workers are not yet everywhere). Built in the
 * same `vite build`, right after the pages.
 */
function serviceWorker(mode: string): Plugin {
  return {
    name: "pairly:service-worker",
    apply: "build",
    async writeBundle() {
      await build({
        configFile: false,
        root: import.meta.dirname,
        mode,
        logLevel: "warn",
        publicDir: false,
        build: {
          outDir: "dist",
          emptyOutDir: false,
          target: "es2022",
          sourcemap: mode === "development",
          minify: mode !== "development",
          rolldownOptions: {
            input: join(import.meta.dirname, "src/sw.ts"),
            output: { format: "iife", entryFileNames: "sw.js" },
          },
        },
      });
    },
  };
}

// `--mode development` (npm start, the tests) keeps the local dev sign-in; the production build
// (`npm run build`) compiles it out.
export default defineConfig(({ mode }) => ({
  root: import.meta.dirname,
  base: "/",
  define: { __DEV_SIGN_IN__: JSON.stringify(mode === "development") },
  oxc: { jsx: { runtime: "automatic", importSource: "preact" } },
  plugins: [swaggerUiAssets(), serviceWorker(mode)],
  build: {
    outDir: "dist",
    emptyOutDir: true,
    target: "es2022",
    sourcemap: mode === "development",
    minify: mode !== "development",
    rolldownOptions: { input: { chat: join(import.meta.dirname, "index.html"), admin: join(import.meta.dirname, "admin.html") } },
  },
}));
