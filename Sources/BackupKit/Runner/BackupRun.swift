import Foundation

/// The events of one run, as an `AsyncSequence` that ends after ``BackupEvent/finished(_:)``.
/// Dropping the iteration early cancels the run.
public struct BackupRun: AsyncSequence, Sendable {
    public typealias Element = BackupEvent
    let stream: AsyncStream<BackupEvent>
    /// The run itself; its value is the report, also when the run was cancelled.
    let task: Task<RunReport, Never>

    public func makeAsyncIterator() -> AsyncStream<BackupEvent>.Iterator { stream.makeAsyncIterator() }

    /// Waits for the run to end and returns its report, handing every event to `onEvent` on the way.
    /// When the waiting task is cancelled, the run is cancelled too (the stream ends, which cancels it):
    /// it stops at its next safe point, and its report (status failed, error code `cancelled`) is still
    /// returned.
    public func report(onEvent: (BackupEvent) -> Void = { _ in }) async -> RunReport {
        for await event in stream {
            onEvent(event)
        }
        return await task.value
    }
}
