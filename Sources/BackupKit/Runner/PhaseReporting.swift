import Foundation

/// Where phase progress goes: a run's ``BackupEvent/phaseProgress(_:)``, a restore's or a verification's
/// `onProgress`.
package typealias ProgressHandler = @Sendable (PhaseProgress) -> Void

/// Runs `body`, which adds the bytes it handles to the counter it is given, and reports `phase` of
/// `artifact` through `report`: once at the start, every ``PhaseProgress/interval`` while it runs, and
/// once when it ends, finished or failed. The last report comes after every periodic one, so it is
/// the last one a reader sees for the phase. Without `report`, `body` just runs.
package func withPhaseProgress<T>(
    _ phase: PhaseProgress.Phase, artifact: String, total: Int64?, totalIsEstimate: Bool = false,
    counter: ByteCounter = ByteCounter(), report: ProgressHandler?, _ body: (ByteCounter) async throws -> T
) async throws -> T {
    guard let report else { return try await body(counter) }
    let started = Date()
    let snapshot = { @Sendable (state: PhaseProgress.State) in
        PhaseProgress(phase: phase, artifact: artifact, bytesDone: counter.value, totalBytes: total, totalIsEstimate: totalIsEstimate,
                      startedAt: started, state: state)
    }
    report(snapshot(.running))
    // An unstructured task: it must not inherit a cancellation of the work, which ends it below anyway.
    let ticker = Task {
        while true {
            try await Task.sleep(for: PhaseProgress.interval)
            report(snapshot(.running))
        }
    }
    let outcome: Result<T, any Error>
    do { outcome = .success(try await body(counter)) } catch { outcome = .failure(error) }
    ticker.cancel()
    _ = await ticker.result
    if case .success = outcome { report(snapshot(.finished)) } else { report(snapshot(.failed)) }
    return try outcome.get()
}
