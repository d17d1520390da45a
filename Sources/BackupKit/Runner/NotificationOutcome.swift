import Foundation

/// What one notifier did with one alert.
public struct NotificationOutcome: Sendable, Codable, Hashable {
    public var notifier: String
    public var event: AlertEvent
    public var error: String?

    public init(notifier: String, event: AlertEvent, error: String? = nil) {
        self.notifier = notifier
        self.event = event
        self.error = error
    }
}
