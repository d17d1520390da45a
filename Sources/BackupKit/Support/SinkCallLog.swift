import Foundation
import Logging

/// Logs each call BackupKit makes to a sink at debug level, with its duration, under the label
/// `backupkit.sink`: what `--log-level debug` shows of a run, a restore, a verify or a prune.
enum SinkCallLog {
    static let logger = Logger(label: "backupkit.sink")

    /// Runs `call`, logging `operation` on `sink` (and `key`) before and after it.
    @discardableResult
    static func run<T>(_ operation: String, _ sink: any Sink, _ key: String? = nil, _ call: () async throws -> T) async rethrows -> T {
        var metadata: Logger.Metadata = ["sink": "\(sink.name)", "operation": "\(operation)"]
        if let key { metadata["key"] = "\(key)" }
        logger.debug("sink call", metadata: metadata)
        let started = Date()
        do {
            let result = try await call()
            metadata["seconds"] = "\(String(format: "%.3f", Date().timeIntervalSince(started)))"
            logger.debug("sink call done", metadata: metadata)
            return result
        } catch {
            metadata["error"] = "\(error)"
            logger.debug("sink call failed", metadata: metadata)
            throw error
        }
    }
}
