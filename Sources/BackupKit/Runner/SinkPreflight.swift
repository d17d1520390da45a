import Foundation

extension BackupRunner {
    /// Runs every sink's ``Sink/preflight()`` at once and returns the failures by sink name, each
    /// reported as a ``BackupEvent/sinkPreflightFailed(sink:code:message:)`` as it comes.
    func preflightSinks(emit: @escaping @Sendable (BackupEvent) -> Void) async -> [String: BackupError] {
        await withTaskGroup(of: (String, BackupError?).self) { group in
            for sink in plan.sinks {
                group.addTask {
                    do {
                        try await SinkCallLog.run("preflight", sink) { try await sink.preflight() }
                        return (sink.name, nil)
                    } catch {
                        let failure = BackupError.wrap(error, as: .sinkFailed, "sink '\(sink.name)'")
                        emit(.sinkPreflightFailed(sink: sink.name, code: failure.code, message: failure.message))
                        return (sink.name, failure)
                    }
                }
            }
            var failures: [String: BackupError] = [:]
            for await (name, failure) in group { failures[name] = failure }
            return failures
        }
    }

    /// The error that ends the run before anything is written, when sinks failed their preflight and
    /// none is left to take the set, or the plan says `require_all_sinks: true`; nil when the run can go
    /// on with the healthy sinks.
    func refusal(_ unusable: [String: BackupError]) -> BackupError? {
        guard !unusable.isEmpty else { return nil }
        let failed = plan.sinks.compactMap { sink -> (sink: String, error: String?, code: BackupError.Code?)? in
            unusable[sink.name].map { (sink.name, $0.message, $0.code) }
        }
        if failed.count == plan.sinks.count {
            return Self.sinkFailure("no sink can take the set, so nothing was written", failed)
        }
        if plan.requireAllSinks {
            return Self.sinkFailure("the plan says require_all_sinks: true and \(failed.count == 1 ? "a sink" : "\(failed.count) sinks") failed the check before the run, so nothing was written", failed)
        }
        return nil
    }

    /// The run's error when sinks failed: each sink's error, and the code of a full volume (exit 7, a
    /// `disk_space` alert) when one of them is full, as for a full staging volume, else `sink_failed`.
    static func sinkFailure(_ summary: String, _ failures: [(sink: String, error: String?, code: BackupError.Code?)]) -> BackupError {
        // Each error is a sentence of its own: its full stop goes before the separator is added.
        let detail = failures.compactMap { failure in
            failure.error.map { "\(failure.sink): \($0.hasSuffix(".") ? String($0.dropLast()) : $0)" }
        }.joined(separator: "; ")
        let code: BackupError.Code = failures.contains { $0.code == .diskSpace } ? .diskSpace : .sinkFailed
        return BackupError(code, "\(summary): \(detail)")
    }
}
