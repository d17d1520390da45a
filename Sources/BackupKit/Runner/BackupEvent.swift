import Foundation

/// What a run reports as it goes. The CLI turns these into progress lines; an embedding service can
/// log them, forward them, or wait for ``finished(_:)``.
public enum BackupEvent: Sendable {
    case started(plan: String, set: SetTimestamp)
    /// A check before anything was written failed: the server, the credentials, the database, a tool's
    /// version, or the staging volume's free space. The run ends without writing.
    case preflightFailed(source: String?, code: BackupError.Code, message: String)
    /// A sink failed its check before anything was written (``Sink/preflight()``): it cannot be reached,
    /// refuses the credentials, has no bucket, or cannot be written. The run leaves it out and ends
    /// degraded, or fails before writing when no sink is healthy or the plan says `require_all_sinks`.
    case sinkPreflightFailed(sink: String, code: BackupError.Code, message: String)
    case artifactStarted(source: String, artifact: String)
    /// Periodic, while an artifact is written: bytes read from the source and bytes written compressed.
    case progress(source: String, artifact: String, contentBytes: Int64, writtenBytes: Int64, expectedContentBytes: Int64?)
    /// A phase of an artifact's way (dump or archive, read-back verification, the upload to each sink)
    /// started, went on, or ended: at most five times a second while it runs, once when it ends.
    case phaseProgress(PhaseProgress)
    case warning(source: String?, message: String)
    case artifactWritten(artifact: String, size: Int64, durationSeconds: Double)
    case verified(artifact: String, passed: Bool, message: String?)
    /// A restore drill ran on an artifact (a dump restored into a scratch database and checked).
    case restoreTested(artifact: String, result: RestoreDrillResult)
    case stored(artifact: String, sink: String)
    case sinkFailed(sink: String, error: String)
    case manifestWritten(sink: String, key: String)
    case pruned(sink: String, deleted: [SetTimestamp])
    case notified(notifier: String, event: AlertEvent, error: String?)
    /// The last event of every run, whatever happened.
    case finished(RunReport)
}
