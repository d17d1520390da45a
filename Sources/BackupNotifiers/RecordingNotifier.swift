import BackupKit
import Synchronization

/// A notifier that keeps every alert it gets, for tests and for services that show alerts themselves.
public final class RecordingNotifier: Notifier {
    public let name: String
    private let recorded = Mutex<[Alert]>([])

    public init(name: String = "recording") { self.name = name }

    public func send(_ alert: Alert) async throws {
        recorded.withLock { $0.append(alert) }
    }

    /// Every alert received, oldest first.
    public var alerts: [Alert] { recorded.withLock { $0 } }
}
