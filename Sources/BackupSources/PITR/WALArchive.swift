import BackupKit
import Foundation
import Logging

/// One `postgres` source's WAL archiving in a plan: its `pitr:` settings, its spool, and the sinks its
/// WAL goes to. The `wal`, `pitr` and point-in-time `restore` commands start from here.
public struct WALArchive: Sendable {
    public let plan: BackupPlan
    public let source: PostgresSource
    public let settings: PITRSettings
    public let spool: WALSpool
    /// The WAL sinks, in the plan's order.
    public let sinks: [any Sink]

    /// The archiving of `sourceName`, or of the plan's only `pitr` source when nil.
    public init(plan: BackupPlan, source sourceName: String? = nil) throws {
        let candidates = plan.sources.compactMap { entry -> (PostgresSource, PITRSettings)? in
            guard let postgres = entry.source as? PostgresSource, let pitr = postgres.configuration.pitr else { return nil }
            return (postgres, pitr)
        }
        let chosen: (PostgresSource, PITRSettings)
        if let sourceName {
            guard let match = candidates.first(where: { $0.0.name == sourceName }) else {
                let what = plan.source(named: sourceName) == nil ? "has no source named '\(sourceName)'" : "source '\(sourceName)' has no pitr: section"
                throw BackupError(.usage, "plan '\(plan.name)' \(what). Point-in-time recovery needs `pitr: true` on a postgres source.")
            }
            chosen = match
        } else {
            guard let first = candidates.first else {
                throw BackupError(.usage, "plan '\(plan.name)' (\(plan.origin)) has no postgres source with a pitr: section. Add `pitr: true` to the postgres source to archive its WAL.")
            }
            guard candidates.count == 1 else {
                throw BackupError(.usage, "plan '\(plan.name)' has several pitr sources (\(candidates.map(\.0.name).joined(separator: ", "))); name one with --source")
            }
            chosen = first
        }
        (source, settings) = chosen
        self.plan = plan
        spool = WALSpool(directory: settings.spool ?? PITRSettings.defaultSpool(stateDirectory: plan.resolvedStateDirectory, source: source.name),
                         settings: settings)
        if let names = settings.walSinks {
            sinks = try names.map { name in
                guard let sink = plan.sink(named: name) else {
                    throw BackupError(.invalidPlan, "source '\(chosen.0.name)': pitr: wal_sinks names '\(name)', which is not a sink of the plan (\(plan.sinks.map(\.name).joined(separator: ", ")))")
                }
                return sink
            }
        } else {
            sinks = plan.sinks
        }
    }

    /// The recipients of each WAL sink that encrypts.
    public func recipients() throws -> [String: [AgeRecipient]] {
        var result: [String: [AgeRecipient]] = [:]
        for sink in sinks {
            if let recipients = try plan.recipients(for: sink) { result[sink.name] = recipients }
        }
        return result
    }

    public func pusher(logger: Logger, alert: @escaping @Sendable (AlertEvent, String) async -> Void) throws -> WALPusher {
        WALPusher(plan: plan.name, source: source.name, spool: spool, sinks: sinks, recipients: try recipients(), logger: logger, alert: alert)
    }

    public func fetcher(identities: [AgeIdentity], cacheDirectory: String?, logger: Logger) -> WALFetcher {
        WALFetcher(plan: plan.name, source: source.name, spool: spool, sinks: sinks, identities: identities + plan.identities,
                   cacheDirectory: cacheDirectory, segmentSize: settings.segmentSize, logger: logger)
    }

    /// What the WAL sinks hold, merged.
    public func catalog() async -> (WALCatalog, unreachable: [String: String]) {
        await WALCatalog.load(sinks: sinks, plan: plan.name, source: source.name, segmentSize: settings.segmentSize)
    }
}
