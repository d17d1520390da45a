import Foundation
import Glibc
import Synchronization

/// Byte counters that blocking work updates and a progress reporter reads.
final class ProgressCounters: Sendable {
    let content = Atomic<Int64>(0)
    let written = Atomic<Int64>(0)
}
