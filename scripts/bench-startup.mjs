// Start-up of each built Worker for scripts/bench-registry.sh: the time from
// creating a workerd (through Miniflare's API, in-memory storage) that runs
// only that Worker to its first answer to GET /healthz: process start,
// module compile and instantiation, the start event, one request. Median of
// 5 per Worker, in milliseconds, as JSON on stdout. The workerd process
// start is common to both; the difference is the Worker's own.
// node scripts/bench-startup.mjs
import path from "node:path";
import { Miniflare } from "miniflare";
import { unstable_getMiniflareWorkerOptions } from "wrangler";

function options(name, config) {
  const { workerOptions, main } = unstable_getMiniflareWorkerOptions(config);
  return {
    ...workerOptions,
    name,
    // Alone: nothing else starts with it.
    serviceBindings: {},
    assets: undefined,
    modules: true,
    scriptPath: path.resolve(path.dirname(config), main),
    modulesRules: [
      { type: "ESModule", include: ["**/*.js", "**/*.mjs"] },
      { type: "CompiledWasm", include: ["**/*.wasm"] },
    ],
  };
}

async function startup(name, config) {
  const times = [];
  for (let i = 0; i < 5; i++) {
    const t0 = performance.now();
    const mf = new Miniflare({ workers: [options(name, config)] });
    const response = await mf.dispatchFetch("http://localhost/healthz");
    await response.arrayBuffer();
    times.push(performance.now() - t0);
    if (response.status >= 500) throw new Error(`${name}: /healthz answered ${response.status}`);
    await mf.dispose();
  }
  times.sort((a, b) => a - b);
  return Math.round(times[2]);
}

console.log(
  JSON.stringify({
    registry: await startup("outpost", "wrangler.toml"),
    inference: await startup("outpost-inference", "worker/inference/wrangler.toml"),
  }),
);
