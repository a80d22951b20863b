// Serves Outpost's two built Workers straight from workerd, through
// Miniflare's API: the configuration closest to Cloudflare's that runs on
// this machine. The bindings come from the same wrangler.toml files that
// `wrangler dev` reads (wrangler's unstable_getMiniflareWorkerOptions), but
// nothing of the dev server sits in front: no proxy Worker, no live reload,
// no per-request log line. Used by scripts/bench-registry.sh beside the
// `wrangler dev` figures; state is the directory `wrangler dev --persist-to`
// wrote (D1, R2, cache), so both serve the same data.
//
// node scripts/serve-workerd.mjs PORT PERSIST_DIR [NAME=VALUE…]
// Prints "ready" once it answers; stops on SIGTERM/SIGINT.
import path from "node:path";
import { Miniflare } from "miniflare";
import { unstable_getMiniflareWorkerOptions } from "wrangler";

const [port, persist, ...vars] = process.argv.slice(2);
if (!port || !persist) {
  console.error("usage: node scripts/serve-workerd.mjs PORT PERSIST_DIR [NAME=VALUE…]");
  process.exit(2);
}
const bindings = Object.fromEntries(
  vars.map((pair) => [pair.slice(0, pair.indexOf("=")), pair.slice(pair.indexOf("=") + 1)]),
);

/** The Worker a wrangler configuration describes, built by scripts/build-worker.sh. */
function worker(name, config, extra = {}) {
  const { workerOptions, main } = unstable_getMiniflareWorkerOptions(config);
  return {
    ...workerOptions,
    name,
    modules: true,
    scriptPath: path.resolve(path.dirname(config), main ?? "worker/build/worker/shim.mjs"),
    modulesRules: [
      { type: "ESModule", include: ["**/*.js", "**/*.mjs"] },
      { type: "CompiledWasm", include: ["**/*.wasm"] },
    ],
    ...extra,
    bindings: { ...workerOptions.bindings, ...(extra.bindings ?? {}) },
  };
}

const state = path.resolve(persist, "v3");
const mf = new Miniflare({
  host: "127.0.0.1",
  port: Number(port),
  // No log line per request: production has none either.
  logRequests: false,
  d1Persist: path.join(state, "d1"),
  r2Persist: path.join(state, "r2"),
  cachePersist: path.join(state, "cache"),
  workers: [
    // The first Worker answers the port; the service binding INFERENCE
    // names the second.
    worker("outpost", "wrangler.toml", { bindings }),
    worker("outpost-inference", "worker/inference/wrangler.toml"),
  ],
});
await mf.ready;
console.log("ready");
const stop = async () => {
  await mf.dispose();
  process.exit(0);
};
process.on("SIGTERM", stop);
process.on("SIGINT", stop);
