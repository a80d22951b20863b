/** Where OutpostClient keeps trusted state and verified artifacts. */
export interface OutpostStore {
  get(key: string): Uint8Array | undefined | Promise<Uint8Array | undefined>;
  put(key: string, bytes: Uint8Array): void | Promise<void>;
}
export function memoryStore(): OutpostStore;
export function cacheStore(name?: string): OutpostStore;
export function indexedDbStore(name?: string): OutpostStore;
