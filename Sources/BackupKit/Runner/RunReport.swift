import Foundation

/// The outcome of a run: what the CLI prints, `--json` emits, and alerts are built from.
public struct RunReport: Sendable, Codable {
    public enum Status: String, Sendable, Codable {
        /// Every artifact was written, verified and stored in every sink.
        case succeeded
        /// The set was stored in some sinks but a sink failed.
        case degraded
        /// No good set was made.
        case failed
    }

    public var plan: String
    public var host: String
    public var set: SetTimestamp?
    public var tag: String?
    public var status: Status
    public var startedAt: Date
    public var finishedAt: Date
    public var error: ReportedError?
    public var artifacts: [ManifestArtifact] = []
    public var sinks: [SinkOutcome] = []
    public var warnings: [String] = []
    public var pruned: [PruneOutcome] = []
    public var notifications: [NotificationOutcome] = []
    /// Set when the run failed and no good set is newer than the plan's `stale_after`.
    public var stale: StaleReport?

    enum CodingKeys: String, CodingKey {
        case plan, host, tag, status, error, artifacts, sinks, warnings, pruned, notifications, stale
        case set = "timestamp"
        case startedAt = "started_at"
        case finishedAt = "finished_at"
    }

    public var durationSeconds: Double { finishedAt.timeIntervalSince(startedAt) }
}
