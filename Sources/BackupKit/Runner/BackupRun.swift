import Foundation

/// The events of one run, as an `AsyncSequence` that ends after ``BackupEvent/finished(_:)``.
/// Dropping the iteration early cancels the run.
public struct BackupRun: AsyncSequence, Sendable {
    public typealias Element = BackupEvent
    let stream: AsyncStream<BackupEvent>

    public func makeAsyncIterator() -> AsyncStream<BackupEvent>.Iterator { stream.makeAsyncIterator() }

    /// Waits for the run to end and returns its report, handing every event to `onEvent` on the way.
    public func report(onEvent: (BackupEvent) -> Void = { _ in }) async -> RunReport? {
        var last: RunReport?
        for await event in stream {
            onEvent(event)
            if case .finished(let report) = event { last = report }
        }
        return last
    }
}
