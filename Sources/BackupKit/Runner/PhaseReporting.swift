import Foundation

/// Where phase progress goes: a run's ``BackupEvent/phaseProgress(_:)``, a restore's or a verification's
/// `onProgress`.
package typealias ProgressHandler = @Sendable (PhaseProgress) -> Void

/// Runs `body`, which adds the bytes it handles to the counter it is given, and reports `phase` of
/// `artifact` through `report`: once at the start, every ``PhaseProgress/interval`` while it runs, and
/// once when it ends, finished or failed. The last report comes after every periodic one, so it is
/// the last one a reader sees for the phase. Without `report`, `body` just runs. `liveTotal`, when given,
/// tells the total at each report instead of `total` (a read-back's total is what was written so far,
/// an estimate until the file is complete).
///
/// The periodic reports come from a timer on a queue of their own, not from Swift's cooperative pool:
/// they keep coming when the pool's few threads are busy, and their number never exceeds one an interval.
package func withPhaseProgress<T>(
    _ phase: PhaseProgress.Phase, artifact: String, total: Int64?, totalIsEstimate: Bool = false,
    liveTotal: (@Sendable () -> (bytes: Int64, isEstimate: Bool))? = nil,
    counter: ByteCounter = ByteCounter(), report: ProgressHandler?, _ body: (ByteCounter) async throws -> T
) async throws -> T {
    guard let report else { return try await body(counter) }
    let started = Date()
    let snapshot = { @Sendable (state: PhaseProgress.State) in
        let (total, isEstimate) = liveTotal.map { $0() } ?? (total, totalIsEstimate)
        return PhaseProgress(phase: phase, artifact: artifact, bytesDone: counter.value, totalBytes: total, totalIsEstimate: isEstimate,
                             startedAt: started, state: state)
    }
    report(snapshot(.running))
    let queue = DispatchQueue(label: "backupkit.progress")
    let interval = DispatchTimeInterval.milliseconds(Int(PhaseProgress.interval / .milliseconds(1)))
    let timer = DispatchSource.makeTimerSource(queue: queue)
    timer.schedule(deadline: .now() + interval, repeating: interval)
    timer.setEventHandler { report(snapshot(.running)) }
    timer.resume()
    let outcome: Result<T, any Error>
    do { outcome = .success(try await body(counter)) } catch { outcome = .failure(error) }
    timer.cancel()
    // On the timer's queue, so after a periodic report that may be under way.
    let end: PhaseProgress.State = if case .success = outcome { .finished } else { .failed }
    await withCheckedContinuation { continuation in
        queue.async {
            report(snapshot(end))
            continuation.resume()
        }
    }
    return try outcome.get()
}
