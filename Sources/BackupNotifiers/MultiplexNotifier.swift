import BackupKit
import Synchronization

/// Sends each alert to several notifiers in parallel. It throws when any of them failed, naming each
/// failure, after all of them have been tried.
package struct MultiplexNotifier: Notifier {
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
