// Registers this phone's FCM registration token with Clarion and reports opened/clicked events.
// Call ClarionPush.register(context, token) from FirebaseMessagingService.onNewToken (and once
// at start with FirebaseMessaging.getInstance().token), and ClarionPush.report(...) when the
// user opens a notification or taps one of its actions.

package com.example.shop.push

import android.content.Context
import java.net.HttpURLConnection
import java.net.URL
import java.time.Instant
import java.util.Locale
import java.util.TimeZone
import java.util.UUID
import kotlin.concurrent.thread
import org.json.JSONObject

object ClarionPush {
    // Your Clarion server (behind TLS), the app's id and keys: see docs/clients/README.md.
    private const val CLARION_URL = "https://push.example.com"
    private const val APP_ID = "shop-app"
    // A key with only the `registry` scope, limited to this app (or register from your backend).
    private const val REGISTRY_KEY = "clk_..."
    // The app's public key (pk_...), for events.
    private const val APP_PUBLIC_KEY = "pk_..."

    /** A stable id for this installation of the app. */
    fun installationId(context: Context): String {
        val prefs = context.getSharedPreferences("clarion", Context.MODE_PRIVATE)
        return prefs.getString("installation_id", null) ?: ("android-" + UUID.randomUUID()).also {
            prefs.edit().putString("installation_id", it).apply()
        }
    }

    /** PUT /v1/apps/{app}/installations/{installation_id} with the FCM registration token. */
    fun register(context: Context, token: String, externalId: String? = null) {
        val body = JSONObject()
            .put("platform", "android")
            .put("token", token)
            .put("language", Locale.getDefault().toLanguageTag())
            .put("timezone", TimeZone.getDefault().id)
        if (externalId != null) body.put("external_id", externalId)
        val id = installationId(context)
        call("PUT", "/v1/apps/$APP_ID/installations/$id", "Authorization", "Bearer $REGISTRY_KEY", body)
    }

    /** POST /v1/events: "opened" when the notification was tapped, "clicked" for an action. */
    fun report(context: Context, type: String, data: Map<String, String>) {
        val body = JSONObject()
            .put("installation_id", installationId(context))
            .put("type", type)
            .put("at", Instant.now().toString())
        // Put "data": {"send_id": "{{ current.send_id }}"} in the send's content to get it here.
        data["send_id"]?.let { body.put("send_id", it) }
        call("POST", "/v1/events", "Clarion-App-Key", APP_PUBLIC_KEY, body)
    }

    private fun call(method: String, path: String, header: String, value: String, body: JSONObject) {
        thread {
            val connection = URL(CLARION_URL + path).openConnection() as HttpURLConnection
            try {
                connection.requestMethod = method
                connection.setRequestProperty(header, value)
                connection.setRequestProperty("Content-Type", "application/json")
                connection.doOutput = true
                connection.outputStream.use { it.write(body.toString().toByteArray()) }
                connection.responseCode // sends the request; 2xx is success
            } finally {
                connection.disconnect()
            }
        }
    }
}
