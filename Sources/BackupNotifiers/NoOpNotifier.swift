import BackupKit
import Synchronization

/// A notifier that drops every alert.
package struct NoOpNotifier: Notifier {
    public let name: String
    public init(name: String = "none") { self.name = name }
    public func send(_ alert: Alert) async throws {}
}
