import Foundation

/// The outcome of a plan's recent runs, kept beside the lock file (`.backupctl-<plan>.state.json`) so
/// that `backupctl status` and the metrics can tell the last success and the last failure apart, even
/// though a failed run stores nothing in the sinks.
package struct RunState: Sendable, Codable, Hashable {
    public struct Run: Sendable, Codable, Hashable {
        public var set: SetTimestamp?
        public var status: RunReport.Status
        public var startedAt: Date
        public var finishedAt: Date
        public var durationSeconds: Double
        public var error: ReportedError?
        public var artifacts: [ArtifactSummary]
        /// False when an artifact failed verification or its drill.
        public var verified: Bool
        /// Nil when no drill ran.
        public var restoreTestPassed: Bool?
        public var tag: String?

        enum CodingKeys: String, CodingKey {
            case status, error, artifacts, verified, tag
            case set = "timestamp"
            case startedAt = "started_at"
            case finishedAt = "finished_at"
            case durationSeconds = "duration_seconds"
            case restoreTestPassed = "restore_test_passed"
        }

        /// The key state files written before version 1 of the JSON schemas used for the set.
        private enum LegacyKeys: String, CodingKey { case set }

        init(set: SetTimestamp?, status: RunReport.Status, startedAt: Date, finishedAt: Date, durationSeconds: Double,
             error: ReportedError?, artifacts: [ArtifactSummary], verified: Bool, restoreTestPassed: Bool?, tag: String?) {
            self.set = set
            self.status = status
            self.startedAt = startedAt
            self.finishedAt = finishedAt
            self.durationSeconds = durationSeconds
            self.error = error
            self.artifacts = artifacts
            self.verified = verified
            self.restoreTestPassed = restoreTestPassed
            self.tag = tag
        }

        public init(from decoder: any Decoder) throws {
            let container = try decoder.container(keyedBy: CodingKeys.self)
            set = try container.decodeIfPresent(SetTimestamp.self, forKey: .set)
                ?? decoder.container(keyedBy: LegacyKeys.self).decodeIfPresent(SetTimestamp.self, forKey: .set)
            status = try container.decode(RunReport.Status.self, forKey: .status)
            startedAt = try container.decode(Date.self, forKey: .startedAt)
            finishedAt = try container.decode(Date.self, forKey: .finishedAt)
            durationSeconds = try container.decode(Double.self, forKey: .durationSeconds)
            error = try container.decodeIfPresent(ReportedError.self, forKey: .error)
            artifacts = try container.decode([ArtifactSummary].self, forKey: .artifacts)
            verified = try container.decode(Bool.self, forKey: .verified)
            restoreTestPassed = try container.decodeIfPresent(Bool.self, forKey: .restoreTestPassed)
            tag = try container.decodeIfPresent(String.self, forKey: .tag)
        }
    }

    public struct ArtifactSummary: Sendable, Codable, Hashable {
        public var name: String
        public var source: String
        public var subject: String
        public var size: Int64
    }

    public struct SinkState: Sendable, Codable, Hashable {
        public var lastStored: Date?
        public var lastFailure: Date?
        public var lastError: String?
        /// Whether the sink took the last run's set.
        public var up: Bool

        enum CodingKeys: String, CodingKey {
            case up
            case lastStored = "last_stored"
            case lastFailure = "last_failure"
            case lastError = "last_error"
        }
    }

    /// A `pitr` source's WAL archive, as `run` and `wal status` last saw it.
    public struct WALArchiveState: Sendable, Codable, Hashable {
        public var lastArchived: String?
        public var lastArchivedAt: Date?
        public var spoolBytes: Int64
        public var windowStart: Date?
        public var windowEnd: Date?

        public init(lastArchived: String?, lastArchivedAt: Date?, spoolBytes: Int64, windowStart: Date?, windowEnd: Date?) {
            self.lastArchived = lastArchived
            self.lastArchivedAt = lastArchivedAt
            self.spoolBytes = spoolBytes
            self.windowStart = windowStart
            self.windowEnd = windowEnd
        }

        enum CodingKeys: String, CodingKey {
            case lastArchived = "last_archived"
            case lastArchivedAt = "last_archived_at"
            case spoolBytes = "spool_bytes"
            case windowStart = "window_start"
            case windowEnd = "window_end"
        }
    }

    public var plan: String
    /// By source name; nil in state files written before PITR.
    public var walArchives: [String: WALArchiveState]?
    public var lastRun: Run?
    public var lastSuccess: Run?
    public var lastFailure: Run?
    public var sinks: [String: SinkState]

    enum CodingKeys: String, CodingKey {
        case plan, sinks
        case walArchives = "wal_archives"
        case lastRun = "last_run"
        case lastSuccess = "last_success"
        case lastFailure = "last_failure"
    }

    public init(plan: String) {
        self.plan = plan
        sinks = [:]
    }

    /// Reads the state file; a missing or unreadable one is an empty state.
    public static func load(path: String, plan: String) -> RunState {
        guard let data = FileManager.default.contents(atPath: path) else { return RunState(plan: plan) }
        let decoder = JSONDecoder()
        decoder.dateDecodingStrategy = .iso8601
        return (try? decoder.decode(RunState.self, from: data)) ?? RunState(plan: plan)
    }

    /// Records a run's report. Every sink of the plan (`sinks`) that did not store this run's set is
    /// down, and the run counts as verified only when it verified artifacts and every one passed: a run
    /// that failed before it got that far never leaves the metrics saying all is well.
    public mutating func record(_ report: RunReport, sinks planSinks: [String] = []) {
        let drills = report.artifacts.compactMap(\.restoreTest)
        let run = Run(set: report.set, status: report.status, startedAt: report.startedAt, finishedAt: report.finishedAt,
                      durationSeconds: report.durationSeconds, error: report.error,
                      artifacts: report.artifacts.map { ArtifactSummary(name: $0.name, source: $0.source, subject: $0.subject, size: $0.size) },
                      verified: report.error?.code != .verificationFailed && !report.artifacts.isEmpty
                          && report.artifacts.allSatisfy { $0.verification.status == .passed },
                      restoreTestPassed: drills.isEmpty ? nil : drills.allSatisfy(\.passed), tag: report.tag)
        lastRun = run
        if report.status == .failed { lastFailure = run } else { lastSuccess = run }
        let reported = Set(report.sinks.map(\.sink))
        if !planSinks.isEmpty { sinks = sinks.filter { planSinks.contains($0.key) } }
        for name in Set(planSinks).subtracting(reported) {
            var sink = sinks[name] ?? SinkState(up: false)
            sink.up = false
            sinks[name] = sink
        }
        for outcome in report.sinks {
            var sink = sinks[outcome.sink] ?? SinkState(up: false)
            sink.up = outcome.status == .stored
            if outcome.status == .stored {
                sink.lastStored = report.finishedAt
            } else {
                sink.lastFailure = report.finishedAt
                sink.lastError = outcome.error
            }
            sinks[outcome.sink] = sink
        }
    }

    /// Writes the state file atomically.
    public func save(path: String) throws {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
        encoder.dateEncodingStrategy = .iso8601
        try AtomicFileWriter.write(Array(encoder.encode(self)), to: path)
    }
}
