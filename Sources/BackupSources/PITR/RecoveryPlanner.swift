import BackupKit
import Foundation

/// A base backup of a `pitr` source, as its set's manifest records it.
public struct BaseBackupRecord: Sendable, Hashable {
    public var set: SetTimestamp
    public var artifact: ManifestArtifact
    public var timeline: UInt32
    public var startLSN: LSN
    public var stopLSN: LSN
    public var startSegment: WALFileName
    /// When `pg_basebackup` finished: the earliest moment a recovery from it can stop at.
    public var consistentAt: Date
    public var verified: Bool

    /// The base backup of `source` in a set, when the set is good and holds one.
    init?(_ entry: SetCatalog.Entry, source: String) {
        guard entry.isGood, let manifest = entry.manifest,
              let artifact = manifest.artifacts.first(where: { $0.source == source && $0.subject == PostgresSource.baseSubject }) else { return nil }
        self.init(set: entry.timestamp, artifact: artifact, verified: artifact.verification.status == .passed)
    }

    init?(set: SetTimestamp, artifact: ManifestArtifact, verified: Bool) {
        guard artifact.details["kind"] == .string("base_backup"),
              case .integer(let timeline)? = artifact.details["timeline"],
              case .string(let start)? = artifact.details["start_lsn"], let startLSN = LSN(start),
              case .string(let stop)? = artifact.details["stop_lsn"], let stopLSN = LSN(stop),
              case .string(let startWAL)? = artifact.details["start_wal"], let startSegment = WALFileName(startWAL),
              case .number(let consistent)? = artifact.details["consistent_at"] else { return nil }
        self.set = set
        self.artifact = artifact
        self.timeline = UInt32(timeline)
        self.startLSN = startLSN
        self.stopLSN = stopLSN
        self.startSegment = startSegment
        consistentAt = Date(timeIntervalSince1970: consistent)
        self.verified = verified
    }
}

/// What a point-in-time restore aims at.
public enum RecoveryTarget: Sendable, Hashable, CustomStringConvertible {
    case time(Date)
    case lsn(LSN)
    /// The end of the archived WAL.
    case latest

    public var description: String {
        switch self {
        case .time(let date): "time \(PointInTimeRestore.postgresTime(date))"
        case .lsn(let lsn): "LSN \(lsn)"
        case .latest: "the end of the archived WAL"
        }
    }
}

/// What a recovery will use: the base backup, the timeline, and the WAL from the base backup's start
/// segment to the last one recovery needs, all checked to be archived.
public struct RecoveryChoice: Sendable {
    public var base: BaseBackupRecord
    public var timeline: UInt32
    public var history: TimelineHistory
    public var target: RecoveryTarget
    public var firstSegment: String
    public var lastSegment: String
    public var segmentCount: Int
}

/// Reads the archive of one `pitr` source (its base backups, its WAL and its timeline history files)
/// and answers what a recovery can do: which timeline was current at a moment, which base backup to
/// start from, whether the WAL in between is complete, and the recovery window.
public struct RecoveryPlanner: Sendable {
    public let archive: WALArchive
    public let catalog: WALCatalog
    /// Oldest first by when they became consistent; only good sets.
    public let bases: [BaseBackupRecord]
    /// Each timeline's history (timeline 1 has no ancestors).
    public let histories: [UInt32: TimelineHistory]
    /// When each timeline after the first began: its history file's time.
    public let timelineStarts: [UInt32: Date]
    public let unreachable: [String: String]
    /// History files that could not be read (no identity for an encrypting sink, damage), with why.
    public var unreadableHistories: [String: String] = [:]

    public static func load(_ archive: WALArchive, identities: [AgeIdentity]) async throws -> RecoveryPlanner {
        let (catalog, unreachable) = await archive.catalog()
        var bases: [BaseBackupRecord] = []
        var seen = Set<SetTimestamp>()
        var plan = archive.plan
        plan.identities += identities
        for sink in archive.plan.sinks {
            guard let sets = try? await plan.catalog(in: sink) else { continue }
            for entry in sets.sets where !seen.contains(entry.timestamp) {
                guard let record = BaseBackupRecord(entry, source: archive.source.name) else { continue }
                seen.insert(entry.timestamp)
                bases.append(record)
            }
        }
        let fetcher = archive.fetcher(identities: identities, cacheDirectory: nil, logger: .init(label: "backupctl"))
        var histories: [UInt32: TimelineHistory] = [1: TimelineHistory(timeline: 1)]
        var starts: [UInt32: Date] = [:]
        var unreadable: [String: String] = [:]
        for file in catalog.histories {
            do {
                guard let bytes = try await fetcher.read(file.name, catalog: catalog) else { continue }
                histories[file.name.timeline] = try TimelineHistory(timeline: file.name.timeline, text: String(decoding: bytes, as: UTF8.self))
                starts[file.name.timeline] = file.time
            } catch {
                unreadable[file.name.name] = BackupError.wrap(error, as: .verificationFailed, file.name.name).message
            }
        }
        var planner = RecoveryPlanner(archive: archive, catalog: catalog, bases: bases.sorted { $0.consistentAt < $1.consistentAt },
                                      histories: histories, timelineStarts: starts, unreachable: unreachable)
        planner.unreadableHistories = unreadable
        return planner
    }

    public var latestTimeline: UInt32 { histories.keys.max() ?? 1 }

    public func history(of timeline: UInt32) -> TimelineHistory { histories[timeline] ?? TimelineHistory(timeline: timeline) }

    /// The timeline current at `date`: the newest one that had begun by then.
    public func timeline(at date: Date) -> UInt32 {
        histories.keys.filter { ($0 == 1) || (timelineStarts[$0].map { $0 <= date } ?? false) }.max() ?? 1
    }

    /// Whether recovery along `history` can start from `base`: the base backup's WAL is on that path.
    func isOnPath(_ base: BaseBackupRecord, _ history: TimelineHistory) -> Bool {
        history.timeline(at: base.startLSN) == base.timeline && history.timeline(at: base.stopLSN) == base.timeline
    }

    /// The window a restore along `timeline`'s path can reach: from the oldest base backup on the path
    /// to the newest archived segment on it.
    public func window(timeline: UInt32) -> (start: Date, end: Date, base: BaseBackupRecord, last: ArchivedWAL)? {
        let history = history(of: timeline)
        guard let oldest = bases.first(where: { isOnPath($0, history) }), let last = catalog.lastSegment(on: history),
              last.time >= oldest.consistentAt else { return nil }
        return (oldest.consistentAt, last.time, oldest, last)
    }

    /// The segments missing between the oldest base backup on `timeline`'s path and the newest segment.
    public func gaps(timeline: UInt32) -> [String] {
        let history = history(of: timeline)
        let size = archive.settings.segmentSize
        guard let oldest = bases.first(where: { isOnPath($0, history) }), let last = catalog.lastSegment(on: history),
              let first = oldest.startSegment.segmentNumber(segmentSize: size), let end = last.name.segmentNumber(segmentSize: size) else { return [] }
        return catalog.missingSegments(from: first, through: end, on: history)
    }

    /// Chooses the timeline, the base backup and the WAL for `target`, and checks the WAL is there.
    public func choose(_ target: RecoveryTarget, timeline requested: UInt32? = nil) throws -> RecoveryChoice {
        let size = archive.settings.segmentSize
        if let (name, why) = unreadableHistories.first {
            // Without every history file the timeline cannot be chosen safely.
            throw BackupError(.verificationFailed, "cannot read the timeline history file \(name): \(why)")
        }
        let timeline: UInt32
        if let requested {
            guard histories[requested] != nil else {
                throw BackupError(.usage, "timeline \(requested) is not in the archive; it holds timelines \(histories.keys.sorted().map(String.init).joined(separator: ", "))")
            }
            timeline = requested
        } else {
            switch target {
            case .time(let date): timeline = self.timeline(at: date)
            case .lsn, .latest: timeline = latestTimeline
            }
        }
        let history = history(of: timeline)
        guard let window = window(timeline: timeline) else {
            if bases.isEmpty {
                throw BackupError(.notFound, "source '\(archive.source.name)' has no good base backup in any sink: run `backupctl run` (a pitr source takes one each run)")
            }
            throw BackupError(.notFound, "no base backup of source '\(archive.source.name)' is followed by archived WAL on timeline \(timeline); check `backupctl wal status`")
        }
        let windowText = "can restore to any moment from \(Self.describe(window.start)) to \(Self.describe(window.end)) on timeline \(timeline)"
        let candidates = bases.filter { isOnPath($0, history) }
        let base: BaseBackupRecord?
        switch target {
        case .time(let date):
            guard date >= window.start, date <= window.end else {
                throw BackupError(.usage, "\(PointInTimeRestore.postgresTime(date)) is outside the recovery window: source '\(archive.source.name)' \(windowText)")
            }
            base = candidates.last { $0.consistentAt <= date }
        case .lsn(let lsn):
            base = candidates.last { $0.stopLSN <= lsn }
            if base == nil { throw BackupError(.usage, "LSN \(lsn) is before the oldest base backup's end (\(candidates.first!.stopLSN)); \(windowText)") }
        case .latest:
            base = candidates.last
        }
        guard let base else { throw BackupError(.usage, "no base backup precedes \(target); \(windowText)") }
        let first = base.startSegment.segmentNumber(segmentSize: size)!
        var last = window.last.name.segmentNumber(segmentSize: size)!
        switch target {
        case .time(let date):
            // The first segment on the path written at or after the target holds the stopping point.
            if let covering = catalog.names.compactMap({ name -> UInt64? in
                guard name.kind == .segment, let number = name.segmentNumber(segmentSize: size), number >= first,
                      history.timeline(forSegment: number, segmentSize: size) == name.timeline,
                      let copy = catalog.copies(of: name.name).first, copy.object.time >= date else { return nil }
                return number
            }).min() { last = covering }
        case .lsn(let lsn):
            let needed = lsn.value / UInt64(size)
            guard needed <= last else { throw BackupError(.usage, "LSN \(lsn) is past the archived WAL; \(windowText)") }
            last = needed
        case .latest:
            break
        }
        let missing = catalog.missingSegments(from: first, through: last, on: history)
        if let gap = missing.first {
            throw BackupError(.notFound, "the WAL from base backup \(base.set) to \(target) is incomplete: \(missing.count) segment(s) missing, first \(gap)\(missing.count > 1 ? ", last \(missing.last!)" : ""). Restore to an earlier moment, or use a newer base backup")
        }
        return RecoveryChoice(base: base, timeline: timeline, history: history, target: target,
                              firstSegment: WALFileName.segment(timeline: history.timeline(forSegment: first, segmentSize: size), number: first, segmentSize: size).name,
                              lastSegment: WALFileName.segment(timeline: history.timeline(forSegment: last, segmentSize: size), number: last, segmentSize: size).name,
                              segmentCount: Int(last - first + 1))
    }

    /// `2026-12-02 10:41:07+00`.
    public static func describe(_ date: Date) -> String {
        let formatter = DateFormatter()
        formatter.locale = Locale(identifier: "en_US_POSIX")
        formatter.timeZone = TimeZone(identifier: "UTC")
        formatter.dateFormat = "yyyy-MM-dd HH:mm:ss'+00'"
        return formatter.string(from: date)
    }
}
