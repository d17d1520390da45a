import Foundation

/// What a run reports as it goes. The CLI turns these into progress lines; an embedding service can
/// log them, forward them, or wait for ``finished(_:)``.
public enum BackupEvent: Sendable {
    case started(plan: String, set: SetTimestamp)
    /// A check before anything was written failed: the server, the credentials, the database, a tool's
    /// version, or the staging volume's free space. The run ends without writing.
    case preflightFailed(source: String?, code: BackupError.Code, message: String)
    case artifactStarted(source: String, artifact: String)
    /// Periodic, while an artifact is written: bytes read from the source and bytes written compressed.
    case progress(source: String, artifact: String, contentBytes: Int64, writtenBytes: Int64, expectedContentBytes: Int64?)
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
        case plan, host, set, tag, status, error, artifacts, sinks, warnings, pruned, notifications, stale
        case startedAt = "started_at"
        case finishedAt = "finished_at"
    }

    public var durationSeconds: Double { finishedAt.timeIntervalSince(startedAt) }
}

/// An error as reports and alerts carry it: its stable code and its (secret-free) message.
public struct ReportedError: Sendable, Codable, Hashable {
    public var code: BackupError.Code
    public var message: String

    public init(code: BackupError.Code, message: String) {
        self.code = code
        self.message = message
    }

    public init(_ error: BackupError) {
        self.init(code: error.code, message: error.message)
    }
}

/// How old the newest good set is, against the limit it broke.
public struct StaleReport: Sendable, Codable, Hashable {
    /// The newest good set, or nil when there is none at all.
    public var newestGoodSet: SetTimestamp?
    public var ageSeconds: Double?
    public var limitSeconds: Double

    public init(newestGoodSet: SetTimestamp?, ageSeconds: Double?, limitSeconds: Double) {
        self.newestGoodSet = newestGoodSet
        self.ageSeconds = ageSeconds
        self.limitSeconds = limitSeconds
    }

    enum CodingKeys: String, CodingKey {
        case newestGoodSet = "newest_good_set"
        case ageSeconds = "age_seconds"
        case limitSeconds = "limit_seconds"
    }

    /// The stale report for a newest good set at `now`, or nil when it is fresh enough.
    public static func check(newest: SetTimestamp?, limit: PlanDuration, now: Date) -> StaleReport? {
        guard let newest else { return StaleReport(newestGoodSet: nil, ageSeconds: nil, limitSeconds: limit.seconds) }
        let age = now.timeIntervalSince(newest.date)
        return age > limit.seconds ? StaleReport(newestGoodSet: newest, ageSeconds: age, limitSeconds: limit.seconds) : nil
    }
}

/// What retention did in one sink.
public struct PruneOutcome: Sendable, Codable, Hashable {
    public var sink: String
    public var deleted: [SetTimestamp]
    public var error: String?

    public init(sink: String, deleted: [SetTimestamp], error: String? = nil) {
        self.sink = sink
        self.deleted = deleted
        self.error = error
    }
}

/// What one notifier did with one alert.
public struct NotificationOutcome: Sendable, Codable, Hashable {
    public var notifier: String
    public var event: AlertEvent
    public var error: String?

    public init(notifier: String, event: AlertEvent, error: String? = nil) {
        self.notifier = notifier
        self.event = event
        self.error = error
    }
}

/// The events of one run, as an `AsyncSequence` that ends after ``BackupEvent/finished(_:)``.
/// Dropping the iteration early cancels the run.
public struct BackupRun: AsyncSequence, Sendable {
    public typealias Element = BackupEvent
    let stream: AsyncStream<BackupEvent>

    public func makeAsyncIterator() -> AsyncStream<BackupEvent>.Iterator { stream.makeAsyncIterator() }

    /// Waits for the run to end and returns its report, handing every event to `onEvent` on the way.
    public func report(onEvent: (BackupEvent) -> Void = { _ in }) async -> RunReport? {
        var last: RunReport?
        for await event in stream {
            onEvent(event)
            if case .finished(let report) = event { last = report }
        }
        return last
    }
}
