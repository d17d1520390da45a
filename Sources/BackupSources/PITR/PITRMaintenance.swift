import BackupKit
import Foundation
import Logging

/// What `run` does for each `pitr` source after the set is stored: WAL retention (when retention ran
/// and the run did not fail), the `wal_gap` check, and the PITR drill when `drill_every` says one is due.
public struct PITRMaintenance: Sendable {
    public struct Outcome: Sendable, Encodable {
        public var source: String
        public var retention: [WALRetention.Outcome] = []
        public var gaps: [String] = []
        public var drill: PITRDrill.Result?
    }

    public var plan: BackupPlan
    public var planFile: String?
    public var executable: String
    public var logger: Logger
    public var alert: @Sendable (WALArchive, AlertEvent, String) async -> Void

    public init(plan: BackupPlan, planFile: String?, executable: String, logger: Logger,
                alert: @escaping @Sendable (WALArchive, AlertEvent, String) async -> Void) {
        self.plan = plan
        self.planFile = planFile
        self.executable = executable
        self.logger = logger
        self.alert = alert
    }

    /// The plan's `pitr` sources.
    public static func archives(in plan: BackupPlan) -> [WALArchive] {
        plan.sources.compactMap { entry in
            guard let postgres = entry.source as? PostgresSource, postgres.configuration.pitr != nil else { return nil }
            return try? WALArchive(plan: plan, source: postgres.name)
        }
    }

    public func afterRun(_ report: RunReport, prune: Bool) async -> [Outcome] {
        var outcomes: [Outcome] = []
        for archive in Self.archives(in: plan) {
            var outcome = Outcome(source: archive.source.name)
            if prune, report.status != .failed {
                outcome.retention = await WALRetention(archive: archive, logger: logger).apply()
            }
            if let planner = try? await RecoveryPlanner.load(archive, identities: plan.identities) {
                (try? PITRStatus.gather(from: planner))?.record(in: plan)
                outcome.gaps = planner.gaps(timeline: planner.latestTimeline)
                if !outcome.gaps.isEmpty {
                    await alert(archive, .walGap, "\(outcome.gaps.count) WAL segment(s) are missing between the oldest base backup and the newest archived WAL on timeline \(planner.latestTimeline): \(outcome.gaps.prefix(20).joined(separator: ", "))\(outcome.gaps.count > 20 ? ", …" : ""). A restore past the first of them is impossible; the next base backup starts a complete range again.")
                }
                // Not before there is a window to drill in (the first run's base backup has no WAL after it yet).
                if report.status != .failed, let every = archive.settings.drillEvery, let planFile, isDrillDue(planner, every: every),
                   planner.window(timeline: planner.latestTimeline) != nil {
                    let drill = PITRDrill(archive: archive, identities: plan.identities, identityFiles: [], planFile: planFile, executable: executable, logger: logger)
                    var generator = SystemRandomNumberGenerator()
                    let result = await drill.run(using: &generator)
                    if !result.passed { await alert(archive, .verificationFailure, result.summary) }
                    outcome.drill = result
                }
            }
            outcomes.append(outcome)
        }
        return outcomes
    }

    /// A drill is due when no base backup records one newer than `every`.
    func isDrillDue(_ planner: RecoveryPlanner, every: PlanDuration) -> Bool {
        let last = planner.bases.compactMap { $0.artifact.restoreTest?.checkedAt }.max()
        return last.map { Date().timeIntervalSince($0) >= every.seconds } ?? true
    }
}
