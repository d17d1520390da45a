import ArgumentParser
import BackupKit
import Foundation

/// Turns run events into the progress bars and immediate messages on stderr.
enum ProgressPrinter {
    static func show(_ event: BackupEvent) {
        switch event {
        case .phaseProgress(let progress):
            Terminal.phase(progress)
        case .warning(let source, let message):
            Terminal.error("warning: \(source.map { "\($0): " } ?? "")\(message)")
        case .sinkPreflightFailed(let sink, _, let message):
            Terminal.error("sink '\(sink)' failed its check before the run and gets nothing this run: \(message)")
        case .sinkFailed(let sink, let error):
            Terminal.error("sink '\(sink)' failed: \(error)")
        case .restoreTested(let artifact, let result):
            Terminal.error("\(artifact): restore drill \(result.passed ? "passed" : "FAILED"): \(result.summary)")
        default:
            break
        }
    }
}
