import Foundation
import Glibc
import Synchronization

/// A flag a task sets on cancellation and blocking work polls.
package final class CancellationFlag: Sendable {
    private let value = Atomic<Bool>(false)
    package init() {}
    package func set() { value.store(true, ordering: .relaxed) }
    package var isSet: Bool { value.load(ordering: .relaxed) }
}
