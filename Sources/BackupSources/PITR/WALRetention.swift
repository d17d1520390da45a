import BackupKit
import Foundation
import Logging

/// WAL retention follows base-backup retention: in each WAL sink, WAL older than the start segment of
/// the oldest base backup that sink keeps, good and verified, is deleted. Timeline history files are
/// kept (they are tiny, and every restore needs them). A sink with no verified base backup keeps all
/// its WAL.
public struct WALRetention: Sendable {
    public struct Outcome: Sendable, Encodable {
        public var sink: String
        /// The start segment of the oldest kept verified base backup; nil: nothing was deleted.
        public var keptFrom: String?
        public var deleted: [String] = []
        public var error: String?

        enum CodingKeys: String, CodingKey {
            case sink, deleted, error
            case keptFrom = "kept_from"
        }
    }

    public var archive: WALArchive
    public var logger: Logger

    public init(archive: WALArchive, logger: Logger) {
        self.archive = archive
        self.logger = logger
    }

    public func apply(dryRun: Bool = false) async -> [Outcome] {
        var outcomes: [Outcome] = []
        let size = archive.settings.segmentSize
        for sink in archive.sinks {
            var outcome = Outcome(sink: sink.name)
            do {
                let sets = try await archive.plan.catalog(in: sink)
                let oldest = sets.sets.compactMap { BaseBackupRecord($0, source: archive.source.name) }.filter(\.verified)
                    .min { $0.startLSN < $1.startLSN }
                guard let oldest, let cutoff = oldest.startSegment.segmentNumber(segmentSize: size) else {
                    outcomes.append(outcome)
                    continue
                }
                outcome.keptFrom = oldest.startSegment.name
                var catalog = WALCatalog(segmentSize: size)
                catalog.add(try await sink.list(), sink: sink.name, plan: archive.plan.name, source: archive.source.name)
                for name in catalog.names where name.kind != .history {
                    guard let number = name.segmentNumber(segmentSize: size), number < cutoff else { continue }
                    for copy in catalog.copies(of: name.name) {
                        if !dryRun { try await sink.delete(copy.object.key) }
                        outcome.deleted.append(copy.object.name.name)
                    }
                }
                if !dryRun {
                    for name in archive.spool.archivedNames() {
                        if let wal = WALFileName(name), wal.kind != .history, let number = wal.segmentNumber(segmentSize: size), number < cutoff {
                            archive.spool.forgetArchived(name)
                        }
                    }
                }
            } catch {
                outcome.error = BackupError.wrap(error, as: .sinkFailed, "WAL retention in sink '\(sink.name)'").message
            }
            outcomes.append(outcome)
        }
        return outcomes
    }
}
