// A Cloudflare Worker that uses the wasm client package exactly as a Worker
// developer would: import the ES module and its .wasm, resolve a signed model
// from the registry, verify, load and predict. tests/e2e/tests/client.rs runs
// it under wrangler dev beside the registry's own Worker.
import init, { OutpostClient } from "../../../target/outpost-client-pkg/outpost_client.js";
import wasm from "../../../target/outpost-client-pkg/outpost_client_bg.wasm";

let ready;

export default {
  async fetch(request) {
    const url = new URL(request.url);
    if (url.pathname === "/healthz") return new Response("ok");
    if (url.pathname !== "/run" || request.method !== "POST") return new Response("not found", { status: 404 });
    ready ??= init({ module_or_path: wasm });
    await ready;
    const { registry, org, token, root, model, stage, inputs, tamper } = await request.json();
    // `tamper` plays the network attacker: one flipped byte in the artifact.
    const fetchThrough = async (resource, init) => {
      const response = await fetch(resource, init);
      if (!tamper || !String(resource).includes("/blobs/")) return response;
      const body = new Uint8Array(await response.arrayBuffer());
      body[body.length >> 1] ^= 0x01;
      return new Response(body, { status: response.status });
    };
    try {
      const client = new OutpostClient({ registry, org, token, root, deviceId: "worker-1", fetch: fetchThrough });
      const resolution = await client.resolve(model, stage);
      const handle = await client.load(model, stage);
      return Response.json({ version: resolution.version, outputs: handle.predict(inputs) });
    } catch (err) {
      return Response.json({ error: { code: err.code, message: err.message } }, { status: 422 });
    }
  },
};
