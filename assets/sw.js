// Lägesbild's service worker for the reporting pages (scope /rapportera): it keeps the
// form, Mina signaler and their assets so that a reporter can file a signal without a
// connection. Pages come from the network first and from this cache only when the
// network fails, so an online reporter always sees the service's current page. It
// touches nothing but GET: signals are sent by report.js, each with its own
// Idempotency-Key, never from here. report.js deletes this cache at sign-out.
"use strict";

const CACHE = "lagesbild-rapportera-v1";
const PAGES = ["/rapportera", "/rapportera/mina"];
const ASSETS = [
  "/assets/app.css",
  "/assets/app.js",
  "/assets/report.js",
  "/assets/icon-192.png",
  "/assets/icon-512.png",
  "/manifest.webmanifest",
];

self.addEventListener("install", (event) => {
  event.waitUntil(
    caches.open(CACHE).then((cache) => cache.addAll(ASSETS)).then(() => self.skipWaiting()),
  );
});

self.addEventListener("activate", (event) => {
  event.waitUntil(
    caches
      .keys()
      .then((keys) => Promise.all(keys.filter((k) => k.startsWith("lagesbild-") && k !== CACHE).map((k) => caches.delete(k))))
      .then(() => self.clients.claim()),
  );
});

// A page asks for the reporting pages to be kept (the first visit happens before this
// worker controls it).
self.addEventListener("message", (event) => {
  if (event.data === "keep-pages") {
    event.waitUntil(Promise.all(PAGES.map((path) => fresh(new Request(path), path, true).catch(() => null))));
  }
});

self.addEventListener("fetch", (event) => {
  const request = event.request;
  if (request.method !== "GET") return;
  const url = new URL(request.url);
  if (url.origin !== self.location.origin) return;
  const page = PAGES.includes(url.pathname);
  if (!page && !ASSETS.includes(url.pathname)) return;
  event.respondWith(
    fresh(request, url.pathname, page && url.search === "").catch(async (error) => {
      const kept = await caches.match(url.pathname, { cacheName: CACHE });
      if (kept) return kept;
      throw error;
    }),
  );
});

/** The network's answer, kept under `path` when it is a page of this user (not a
 * redirect to sign-in) or an asset. */
async function fresh(request, path, keep) {
  const response = await fetch(request);
  const isAsset = ASSETS.includes(path);
  if (response.ok && response.type === "basic" && !response.redirected && (keep || isAsset)) {
    const cache = await caches.open(CACHE);
    await cache.put(path, response.clone());
  }
  return response;
}
