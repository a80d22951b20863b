// Stores for OutpostClient: where trusted state and verified artifacts live.
// A store is any object with get(key) → bytes | undefined and put(key, bytes),
// sync or async. Artifacts are re-verified on every read, so a store only
// needs to keep bytes, not to be trusted.

/** Kept in memory: lost with the page or process (Node, Workers, tests). */
export function memoryStore() {
  const entries = new Map();
  return {
    get: (key) => entries.get(key),
    put: (key, bytes) => {
      entries.set(key, new Uint8Array(bytes));
    },
  };
}

/** The browser's Cache API: survives page loads, so rollback protection does too. */
export function cacheStore(name = "outpost") {
  const url = (key) => `https://outpost.invalid/${encodeURIComponent(key)}`;
  return {
    async get(key) {
      const cache = await caches.open(name);
      const hit = await cache.match(url(key));
      return hit ? new Uint8Array(await hit.arrayBuffer()) : undefined;
    },
    async put(key, bytes) {
      const cache = await caches.open(name);
      await cache.put(url(key), new Response(bytes));
    },
  };
}

/** IndexedDB, for browsers where the Cache API is not available. */
export function indexedDbStore(name = "outpost") {
  const open = () =>
    new Promise((resolve, reject) => {
      const request = indexedDB.open(name, 1);
      request.onupgradeneeded = () => request.result.createObjectStore("entries");
      request.onsuccess = () => resolve(request.result);
      request.onerror = () => reject(request.error);
    });
  const run = async (mode, action) => {
    const db = await open();
    return new Promise((resolve, reject) => {
      const request = action(db.transaction("entries", mode).objectStore("entries"));
      request.onsuccess = () => resolve(request.result);
      request.onerror = () => reject(request.error);
    });
  };
  return {
    get: (key) => run("readonly", (store) => store.get(key)),
    put: (key, bytes) => run("readwrite", (store) => store.put(new Uint8Array(bytes), key)),
  };
}
