import Foundation
import Glibc
import Logging
import Synchronization

/// Warnings gathered from every thread of a run.
final class WarningLog: Sendable {
    private let items = Mutex<[String]>([])
    func add(_ warning: String) { items.withLock { $0.append(warning) } }
    var all: [String] { items.withLock { $0 } }
}
