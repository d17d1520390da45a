import Logging

/// Applies a plan's retention to one sink: reads its catalog, decides with ``RetentionPlanner``, and
/// deletes what goes, manifest first so that an interrupted prune never leaves a manifest pointing at
/// missing files. It refuses to delete the newest good set whatever the decisions say.
public struct Pruner: Sendable {
    public var plan: BackupPlan
    public var logger: Logger

    public init(plan: BackupPlan, logger: Logger) {
        self.plan = plan
        self.logger = logger
    }

    public struct Result: Sendable {
        public var outcome: PruneOutcome
        public var decisions: [RetentionPlanner.Decision]
        public var catalog: SetCatalog?
    }

    /// Reads the sink's catalog, then prunes it.
    public func prune(_ sink: any Sink, dryRun: Bool) async -> Result {
        do {
            return await prune(sink, catalog: try await plan.catalog(in: sink), dryRun: dryRun)
        } catch {
            return Self.unlisted(sink, error)
        }
    }

    /// The result for a sink whose catalog could not be read: nothing deleted.
    static func unlisted(_ sink: any Sink, _ error: any Error) -> Result {
        Result(outcome: PruneOutcome(sink: sink.name, deleted: [], error: "cannot list the sink: \(error)"), decisions: [], catalog: nil)
    }

    /// Prunes `sink` as `catalog` (its catalog, read once by the caller) describes it.
    package func prune(_ sink: any Sink, catalog: SetCatalog, dryRun: Bool) async -> Result {
        // Sets written before BackupKit signed them count as good when they are older than every signed
        // good set: they are the history from before the upgrade. Any other unsigned set is not good
        // (anyone who can write to the sink can make one), so it never takes a keep_* slot from a real set.
        let oldestSigned = catalog.sets.first { $0.isGood }?.timestamp
        let candidates = catalog.sets.map { set in
            let isLegacy = set.health.isGoodButUnsigned && oldestSigned.map { set.timestamp < $0 } == true
            return RetentionPlanner.Candidate(timestamp: set.timestamp, isGood: set.isGood || isLegacy, tag: set.tag,
                                              isPartial: set.isPartial, protection: set.protection)
        }
        let decisions = RetentionPlanner.plan(candidates, policy: plan.retention)
        var outcome = PruneOutcome(sink: sink.name, deleted: [])
        guard !dryRun else { return Result(outcome: outcome, decisions: decisions, catalog: catalog) }
        if let newest = catalog.newestGood, decisions.contains(where: { $0.timestamp == newest.timestamp && !$0.keep }) {
            outcome.error = "retention would delete the newest good set \(newest.timestamp); nothing was deleted"
            return Result(outcome: outcome, decisions: decisions, catalog: catalog)
        }
        for decision in decisions where !decision.keep {
            guard let set = catalog.set(decision.timestamp) else { continue }
            do {
                for key in set.keys {
                    do {
                        try await SinkCallLog.run("delete", sink, key) { try await sink.delete(key) }
                    } catch let error as BackupError where error.code == .notFound {
                        continue
                    }
                }
                outcome.deleted.append(decision.timestamp)
                logger.info("pruned set", metadata: ["sink": "\(sink.name)", "set": "\(decision.timestamp)", "reason": "\(decision.reasons.joined(separator: "; "))"])
            } catch {
                outcome.error = "cannot delete set \(decision.timestamp): \(error)"
                break
            }
        }
        if outcome.error == nil {
            await collectPacks(sink, catalog: catalog, deleted: Set(outcome.deleted), outcome: &outcome)
        }
        return Result(outcome: outcome, decisions: decisions, catalog: catalog)
    }

    /// Deletes the plan's packs that no kept set names: those of deleted sets, and those a killed run
    /// stored before its manifest. It runs under the plan's lock (a run, or `prune`, holds it), so no
    /// run in progress can be about to name a pack no manifest names yet. When a kept set's manifest
    /// cannot be read here (damaged, or sealed for another identity), the packs it names are unknown
    /// and nothing is collected.
    func collectPacks(_ sink: any Sink, catalog: SetCatalog, deleted: Set<SetTimestamp>, outcome: inout PruneOutcome) async {
        let kept = catalog.sets.filter { !deleted.contains($0.timestamp) }
        if let unreadable = kept.first(where: { $0.manifestKey != nil && $0.manifest == nil && $0.sealed == nil }) {
            logger.notice("packs not collected: a kept set's manifest cannot be read here", metadata: ["sink": "\(sink.name)", "set": "\(unreadable.timestamp)"])
            return
        }
        // An encrypted set's sealed manifest lists its packs' keys in the clear: a host without the
        // identity collects packs too.
        let live = Set(kept.flatMap { entry in
            entry.sealed.map { $0.artifacts.map(\.key).filter { ArtifactName.isPack($0) } }
                ?? entry.manifest?.artifacts.filter(\.isPack).map(\.name) ?? []
        })
        // The packs the catalog's listing saw; a pack stored since (by the run that prunes) is named by
        // its new set anyway.
        do {
            for object in catalog.packs.sorted(by: { $0.key < $1.key }) where !live.contains(object.key) {
                do {
                    try await SinkCallLog.run("delete", sink, object.key) { try await sink.delete(object.key) }
                } catch let error as BackupError where error.code == .notFound {
                    continue
                }
                outcome.deletedPacks.append(object.key)
            }
        } catch {
            outcome.error = "cannot delete packs no kept set names: \(error)"
        }
        if !outcome.deletedPacks.isEmpty {
            logger.info("deleted packs no kept set names", metadata: ["sink": "\(sink.name)", "count": "\(outcome.deletedPacks.count)"])
        }
    }
}
