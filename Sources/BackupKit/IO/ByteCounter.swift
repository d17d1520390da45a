import Synchronization

/// A count of bytes that blocking work adds to, from any thread, and a progress reporter reads.
package final class ByteCounter: Sendable {
    private let count = Atomic<Int64>(0)

    package init() {}

    package func add(_ bytes: Int64) { count.add(bytes, ordering: .relaxed) }

    package func add(_ bytes: Int) { add(Int64(bytes)) }

    /// Sets the count, such as to the whole size once a sink confirmed it stored the file.
    package func store(_ bytes: Int64) { count.store(bytes, ordering: .relaxed) }

    package var value: Int64 { count.load(ordering: .relaxed) }
}
