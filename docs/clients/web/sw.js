// Service worker: shows Clarion's pushes and reports opened/clicked events.
// Serve it from your site's root (/sw.js), next to the page that loads clarion-push.js.

// { clarionUrl, appPublicKey, installationId }: the page registers this worker with them.
const settings = Object.fromEntries(new URL(self.location.href).searchParams);

/** Report an event about a notification to Clarion with the app's public key. */
async function reportEvent(type, sendId) {
  if (!settings.installationId) return;
  const body = { installation_id: settings.installationId, type, at: new Date().toISOString() };
  if (sendId) body.send_id = sendId;
  await fetch(`${settings.clarionUrl || ""}/v1/events`, {
    method: "POST",
    headers: { "Clarion-App-Key": settings.appPublicKey, "Content-Type": "application/json" },
    body: JSON.stringify(body),
  });
}

self.addEventListener("push", (event) => {
  // Clarion's Web Push payload: title, body, icon, image, url, data, clarion, ...
  const push = event.data ? event.data.json() : {};
  const sendId = push.data && push.data.send_id;
  event.waitUntil(
    Promise.all([
      self.registration.showNotification(push.title || "", {
        body: push.body,
        icon: push.icon,
        image: push.image,
        tag: push.tag,
        data: { url: push.url, sendId },
      }),
      reportEvent("received", sendId),
    ]),
  );
});

self.addEventListener("notificationclick", (event) => {
  event.notification.close();
  const { url, sendId } = event.notification.data || {};
  event.waitUntil(
    Promise.all([reportEvent("clicked", sendId), url ? self.clients.openWindow(url) : null]),
  );
});
