import BackupKit
import Synchronization

/// A notifier that drops every alert.
public struct NoOpNotifier: Notifier {
    public let name: String
    public init(name: String = "none") { self.name = name }
    public func send(_ alert: Alert) async throws {}
}

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

/// Sends each alert to several notifiers in parallel. It throws when any of them failed, naming each
/// failure, after all of them have been tried.
public struct MultiplexNotifier: Notifier {
    public let name: String
    public let notifiers: [any Notifier]

    public init(name: String = "multiplex", _ notifiers: [any Notifier]) {
        self.name = name
        self.notifiers = notifiers
    }

    public func send(_ alert: Alert) async throws {
        let failures = await withTaskGroup(of: String?.self) { group in
            for notifier in notifiers {
                group.addTask {
                    do {
                        try await notifier.send(alert)
                        return nil
                    } catch {
                        return "\(notifier.name): \(error)"
                    }
                }
            }
            var failures: [String] = []
            for await failure in group { if let failure { failures.append(failure) } }
            return failures.sorted()
        }
        if !failures.isEmpty {
            throw BackupError(.io, "\(failures.count) of \(notifiers.count) notifiers failed: \(failures.joined(separator: "; "))")
        }
    }
}
