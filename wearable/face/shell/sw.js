// The watch face's service worker: it keeps the face's shell (page, scripts, styles, icons,
// manifest) so the face opens with no network. It never touches the API: cue answers are one
// person's and carry their token, so every API request goes to the network as if it were not
// here.
//
// The server fills in SHELL (each file's URL, relative to this script) and VERSION (a hash of
// those files), so any change to the shell is a new worker with a new cache, installed whole.
"use strict";

const VERSION = "__SHELL_VERSION__";
const SHELL = ["__SHELL_FILES__"];

// Caches are per origin: two deployments under different path prefixes share them, so each
// names its caches after its own scope and cleans up only those.
const FAMILY = `sciatica-watch-shell ${self.registration.scope} `;
const CACHE = FAMILY + VERSION;
const SHELL_URLS = new Set(SHELL.map((path) => new URL(path, self.location).href));

self.addEventListener("install", (event) => {
  event.waitUntil(
    (async () => {
      const cache = await caches.open(CACHE);
      // Past the HTTP cache: the copy kept must be the one this version hashed.
      await cache.addAll([...SHELL_URLS].map((url) => new Request(url, { cache: "reload" })));
      await self.skipWaiting();
    })(),
  );
});

self.addEventListener("activate", (event) => {
  event.waitUntil(
    (async () => {
      for (const name of await caches.keys()) {
        if (name.startsWith(FAMILY) && name !== CACHE) await caches.delete(name);
      }
      await self.clients.claim();
    })(),
  );
});

// The shell from this version's cache, all of a piece; anything else (the API above all) is
// left to the network untouched. caches.match, not caches.open: a worker on its way out must
// not bring back the cache its successor just deleted.
self.addEventListener("fetch", (event) => {
  const request = event.request;
  if (request.method !== "GET") return;
  const url = new URL(request.url);
  if (!SHELL_URLS.has(url.origin + url.pathname)) return;
  event.respondWith(
    (async () => {
      const kept = await caches.match(request, { cacheName: CACHE, ignoreSearch: true });
      return kept || fetch(request);
    })(),
  );
});
