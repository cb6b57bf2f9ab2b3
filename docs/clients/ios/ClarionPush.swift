// Registers this iPhone's APNs device token with Clarion and reports opened/clicked events.
// Call `ClarionPush.shared.register(deviceToken:)` from
// application(_:didRegisterForRemoteNotificationsWithDeviceToken:), and `report(_:userInfo:)`
// from your UNUserNotificationCenterDelegate.

import Foundation
import UserNotifications

final class ClarionPush {
    static let shared = ClarionPush()

    /// Your Clarion server (behind TLS), the app's id and keys: see docs/clients/README.md.
    let clarionURL = URL(string: "https://push.example.com")!
    let appID = "shop-app"
    /// A key with only the `registry` scope, limited to this app (or register from your backend).
    let registryKey = "clk_..."
    /// The app's public key (`pk_...`), for events.
    let appPublicKey = "pk_..."

    /// A stable id for this installation of the app.
    var installationID: String {
        if let id = UserDefaults.standard.string(forKey: "clarion.installation_id") { return id }
        let id = "ios-" + UUID().uuidString.lowercased()
        UserDefaults.standard.set(id, forKey: "clarion.installation_id")
        return id
    }

    /// PUT /v1/apps/{app}/installations/{installation_id} with the hex device token.
    func register(deviceToken: Data, externalID: String? = nil) {
        let token = deviceToken.map { String(format: "%02x", $0) }.joined()
        var body: [String: Any] = [
            "platform": "ios",
            "token": token,
            "language": Locale.preferredLanguages.first ?? "en",
            "timezone": TimeZone.current.identifier,
        ]
        #if DEBUG
        body["sandbox"] = true  // development builds get their pushes from APNs' sandbox
        #endif
        if let externalID { body["external_id"] = externalID }
        var request = URLRequest(url: clarionURL.appendingPathComponent("/v1/apps/\(appID)/installations/\(installationID)"))
        request.httpMethod = "PUT"
        request.setValue("Bearer \(registryKey)", forHTTPHeaderField: "Authorization")
        request.setValue("application/json", forHTTPHeaderField: "Content-Type")
        request.httpBody = try? JSONSerialization.data(withJSONObject: body)
        URLSession.shared.dataTask(with: request).resume()
    }

    /// POST /v1/events: "opened" when the notification was tapped, "clicked" for an action.
    func report(_ type: String, userInfo: [AnyHashable: Any]) {
        var body: [String: Any] = [
            "installation_id": installationID,
            "type": type,
            "at": ISO8601DateFormatter().string(from: Date()),
        ]
        // Put "data": {"send_id": "{{ current.send_id }}"} in the send's content to get it here.
        if let sendID = userInfo["send_id"] as? String { body["send_id"] = sendID }
        var request = URLRequest(url: clarionURL.appendingPathComponent("/v1/events"))
        request.httpMethod = "POST"
        request.setValue(appPublicKey, forHTTPHeaderField: "Clarion-App-Key")
        request.setValue("application/json", forHTTPHeaderField: "Content-Type")
        request.httpBody = try? JSONSerialization.data(withJSONObject: body)
        URLSession.shared.dataTask(with: request).resume()
    }
}

// In your UNUserNotificationCenterDelegate:
//
// func userNotificationCenter(_ center: UNUserNotificationCenter,
//                             didReceive response: UNNotificationResponse,
//                             withCompletionHandler completionHandler: @escaping () -> Void) {
//     let userInfo = response.notification.request.content.userInfo
//     let type = response.actionIdentifier == UNNotificationDefaultActionIdentifier ? "opened" : "clicked"
//     ClarionPush.shared.report(type, userInfo: userInfo)
//     completionHandler()
// }
