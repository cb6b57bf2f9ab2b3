// Subscribes this browser to Web Push with the app's VAPID key and registers it with Clarion.
// Load it as a module from your page; sw.js must be served from your site's root.

/** Settings of your app: fill them in (see docs/clients/README.md). */
export const config = {
  // Empty: the page's own origin, whose server passes /v1/ on to Clarion (Clarion sends
  // no CORS headers, so a browser cannot call it on another origin).
  clarionUrl: "",
  appId: "shop-app",
  // The app's VAPID public key: `clarion providers show shop-app webpush --field public_key`.
  vapidPublicKey: "BASE64URL-VAPID-PUBLIC-KEY",
  // A key with only the `registry` scope, limited to this app; or call your own backend.
  registryKey: "clk_...",
  // The app's public key (`pk_...`), for reporting opened and clicked events.
  appPublicKey: "pk_...",
};

/** The VAPID key as the bytes `pushManager.subscribe` wants. */
export function vapidKeyBytes(base64url) {
  const padded = base64url.replace(/-/g, "+").replace(/_/g, "/") + "===".slice((base64url.length + 3) % 4);
  return Uint8Array.from(atob(padded), (c) => c.charCodeAt(0));
}

/** A stable id for this browser's installation, kept in local storage. */
export function installationId(storage = globalThis.localStorage) {
  let id = storage.getItem("clarion.installation_id");
  if (!id) {
    id = "web-" + crypto.randomUUID();
    storage.setItem("clarion.installation_id", id);
  }
  return id;
}

/** Register (or update) the installation with its PushSubscription. */
export async function registerSubscription(settings, id, subscription, externalId) {
  const body = {
    platform: "web",
    subscription: subscription.toJSON ? subscription.toJSON() : subscription,
    language: globalThis.navigator?.language,
  };
  if (externalId) body.external_id = externalId;
  const response = await fetch(`${settings.clarionUrl}/v1/apps/${settings.appId}/installations/${encodeURIComponent(id)}`, {
    method: "PUT",
    headers: { "Authorization": `Bearer ${settings.registryKey}`, "Content-Type": "application/json" },
    body: JSON.stringify(body),
  });
  if (!response.ok) throw new Error(`registering failed: ${response.status} ${await response.text()}`);
  return response.json();
}

/** Ask for permission, subscribe with the app's VAPID key and register with Clarion. */
export async function enablePush(settings = config, externalId = undefined) {
  if (!("serviceWorker" in navigator) || !("PushManager" in window)) {
    throw new Error("this browser has no Web Push");
  }
  // The worker reads what it needs to report events from its own URL, which survives restarts.
  const workerSettings = new URLSearchParams({
    clarionUrl: settings.clarionUrl,
    appPublicKey: settings.appPublicKey,
    installationId: installationId(),
  });
  const registration = await navigator.serviceWorker.register(`/sw.js?${workerSettings}`);
  if ((await Notification.requestPermission()) !== "granted") {
    throw new Error("notifications were not allowed");
  }
  const subscription =
    (await registration.pushManager.getSubscription()) ||
    (await registration.pushManager.subscribe({
      userVisibleOnly: true,
      applicationServerKey: vapidKeyBytes(settings.vapidPublicKey),
    }));
  return registerSubscription(settings, installationId(), subscription, externalId);
}
