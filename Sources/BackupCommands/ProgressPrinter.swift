import ArgumentParser
import BackupKit
import Foundation

/// Turns run events into the progress line and immediate messages on stderr.
enum ProgressPrinter {
    static func show(_ event: BackupEvent) {
        switch event {
        case .progress(_, let artifact, let content, let written, let expected):
            var line = "\(artifact): \(formatBytes(content)) read"
            if let expected, expected > 0 { line += " of ~\(formatBytes(expected))" }
            line += ", \(formatBytes(written)) written"
            Terminal.progress(line)
        case .artifactWritten(let artifact, _, _):
            Terminal.progress("\(artifact): verifying")
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
