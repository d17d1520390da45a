import BackupKit
import Foundation

/// What `wal status` (and `status`) report about a `pitr` source: the spool, the newest archived
/// segment and its age, the base backups, gaps, and the recovery window.
public struct PITRStatus: Sendable, Encodable {
    public var source: String
    public var spool: String
    public var spoolFiles: Int
    public var spoolBytes: Int64
    public var oldestSpooledAgeSeconds: Double?
    public var lastArchived: String?
    public var lastArchivedAt: Date?
    public var lastArchivedAgeSeconds: Double?
    public var baseBackups: Int
    public var timeline: UInt32
    public var windowStart: Date?
    public var windowEnd: Date?
    public var gaps: [String]
    public var unreachableSinks: [String: String]
    public var problems: [String]

    enum CodingKeys: String, CodingKey {
        case source, spool, timeline, gaps, problems
        case spoolFiles = "spool_files"
        case spoolBytes = "spool_bytes"
        case oldestSpooledAgeSeconds = "oldest_spooled_age_seconds"
        case lastArchived = "last_archived"
        case lastArchivedAt = "last_archived_at"
        case lastArchivedAgeSeconds = "last_archived_age_seconds"
        case baseBackups = "base_backups"
        case windowStart = "window_start"
        case windowEnd = "window_end"
        case unreachableSinks = "unreachable_sinks"
    }

    public static func gather(_ archive: WALArchive, identities: [AgeIdentity] = [], now: Date = Date()) async throws -> PITRStatus {
        try gather(from: try await RecoveryPlanner.load(archive, identities: identities), now: now)
    }

    /// The status from a planner already loaded.
    public static func gather(from planner: RecoveryPlanner, now: Date = Date()) throws -> PITRStatus {
        let archive = planner.archive
        let usage = try archive.spool.usage()
        let timeline = planner.latestTimeline
        let last = planner.catalog.lastSegment(on: planner.history(of: timeline))
        let window = planner.window(timeline: timeline)
        let gaps = planner.gaps(timeline: timeline)
        var status = PITRStatus(source: archive.source.name, spool: archive.spool.directory, spoolFiles: usage.count, spoolBytes: usage.bytes,
                                oldestSpooledAgeSeconds: usage.oldest.map { now.timeIntervalSince($0) }, lastArchived: last?.name.name,
                                lastArchivedAt: last?.time, lastArchivedAgeSeconds: last.map { now.timeIntervalSince($0.time) },
                                baseBackups: planner.bases.count, timeline: timeline, windowStart: window?.start, windowEnd: window?.end,
                                gaps: gaps, unreachableSinks: planner.unreachable, problems: [])
        if let age = status.oldestSpooledAgeSeconds, age > archive.settings.maxWALLag.seconds {
            status.problems.append("wal_lag: the oldest spooled WAL file is \(Int(age)) s old (max_wal_lag: \(archive.settings.maxWALLag))")
        }
        if !gaps.isEmpty {
            status.problems.append("wal_gap: \(gaps.count) segment(s) missing on timeline \(timeline): \(gaps.prefix(10).joined(separator: ", "))\(gaps.count > 10 ? ", …" : "")")
        }
        if planner.bases.isEmpty { status.problems.append("no base backup: run `backupctl run`") }
        for (name, why) in planner.unreadableHistories.sorted(by: { $0.key < $1.key }) {
            status.problems.append("timeline history \(name) cannot be read (the window and gaps above may be wrong): \(why)")
        }
        for (sink, error) in planner.unreachable.sorted(by: { $0.key < $1.key }) { status.problems.append("sink '\(sink)': \(error)") }
        return status
    }

    /// Records this status in the plan's state file (for `backupkit_wal_*` and `backupkit_pitr_*`
    /// metrics), and rewrites the plan's metrics file when it has one.
    public func record(in plan: BackupPlan) {
        var state = RunState.load(path: plan.statePath, plan: plan.name)
        var archives = state.walArchives ?? [:]
        archives[source] = RunState.WALArchiveState(lastArchived: lastArchived, lastArchivedAt: lastArchivedAt, spoolBytes: spoolBytes,
                                                    windowStart: windowStart, windowEnd: windowEnd)
        state.walArchives = archives
        try? state.save(path: plan.statePath)
        if let metrics = plan.metricsFile { try? MetricsExporter.writeFile(metrics, state: state) }
    }

    /// The human-readable lines.
    public var lines: [String] {
        var lines = ["source \(source): timeline \(timeline), \(baseBackups) base backup(s)"]
        if let lastArchived, let lastArchivedAgeSeconds {
            lines.append("  last archived: \(lastArchived), \(Int(lastArchivedAgeSeconds)) s ago")
        } else {
            lines.append("  last archived: nothing yet")
        }
        lines.append("  spool: \(spoolFiles) file(s), \(spoolBytes) bytes\(oldestSpooledAgeSeconds.map { ", oldest \(Int($0)) s" } ?? "") (\(spool))")
        if let windowStart, let windowEnd {
            lines.append("  can restore to any moment from \(RecoveryPlanner.describe(windowStart)) to \(RecoveryPlanner.describe(windowEnd))")
        } else {
            lines.append("  recovery window: none yet (needs a base backup followed by archived WAL)")
        }
        lines += problems.map { "  PROBLEM: \($0)" }
        return lines
    }
}
