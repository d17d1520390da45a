import ArgumentParser
import BackupKit
import BackupSources
import Foundation

struct StatusCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "status",
        abstract: "Show, per sink, the newest good set and its age, artifact sizes, verification and restore drill results, and the last failure.",
        discussion: """
        With --max-age (such as 26h) it is a monitoring check: it exits 15 when any sink's newest good set is \
        older than that, or when a sink has none — for Nagios-style checks and "no backup in N hours".
        Exit codes: 0 fresh, 15 stale, 2 plan error, 1 a sink could not be read.
        """
    )

    @OptionGroup var global: GlobalOptions

    @Option(name: .long, help: ArgumentHelp("Exit 15 when a sink's newest good set is older than this, such as 26h.", valueName: "DURATION"))
    var maxAge: String?

    @Option(name: .long, help: ArgumentHelp("Only this sink.", valueName: "NAME"))
    var sink: String?

    func validate() throws {
        if let maxAge, PlanDuration(parsing: maxAge) == nil { throw ValidationError("--max-age \(maxAge): write a duration such as 26h, 90m or 2d") }
    }

    struct SinkStatus: Encodable {
        var sink: String
        var newestGoodSet: SetTimestamp?
        var ageSeconds: Double?
        var artifacts: [ListedArtifact]
        var verified: Bool?
        var restoreTest: RestoreTestRecord?
        var lastFailure: Date?
        var lastError: String?
        var stale: Bool?
        /// Sets dated beyond the clock-skew tolerance ahead of now: never counted as the newest good set.
        var futureDatedSets: [SetTimestamp] = []
        /// Each of the plan's sources: the newest good set that holds it, so a partial set (`run --only`)
        /// does not make a source it left out look fresh.
        var sources: [SourceStatus] = []
        var error: String?

        enum CodingKeys: String, CodingKey {
            case sink, artifacts, verified, stale, error, sources
            case futureDatedSets = "future_dated_sets"
            case newestGoodSet = "newest_good_set"
            case ageSeconds = "age_seconds"
            case restoreTest = "restore_test"
            case lastFailure = "last_failure"
            case lastError = "last_error"
        }
    }

    struct SourceStatus: Encodable {
        var source: String
        var newestGoodSet: SetTimestamp?
        var ageSeconds: Double?
        var stale: Bool?

        enum CodingKeys: String, CodingKey {
            case source, stale
            case newestGoodSet = "newest_good_set"
            case ageSeconds = "age_seconds"
        }
    }

    struct Status: Encodable {
        var plan: String
        var lastRun: RunState.Run?
        var lastFailure: RunState.Run?
        var sinks: [SinkStatus]
        var maxAgeSeconds: Double?
        /// Each pitr source's WAL archive and recovery window.
        var pitr: [PITRStatus] = []

        enum CodingKeys: String, CodingKey {
            case plan, sinks, pitr
            case lastRun = "last_run"
            case lastFailure = "last_failure"
            case maxAgeSeconds = "max_age_seconds"
        }
    }

    func run() async throws {
        let plan: BackupPlan
        let selected: [any Sink]
        do {
            plan = try global.loadPlan()
            selected = try plan.selectedSinks(sink)
        } catch { throw fail(error) }
        let limit = maxAge.flatMap(PlanDuration.init(parsing:))
        let state = RunState.load(path: plan.statePath, plan: plan.name)
        let now = Date()
        var sinks: [SinkStatus] = []
        for sink in selected {
            let remembered = state.sinks[sink.name]
            var status = SinkStatus(sink: sink.name, artifacts: [], lastFailure: remembered?.lastFailure, lastError: remembered?.lastError)
            do {
                let catalog = try await plan.catalog(in: sink, now: now)
                status.futureDatedSets = catalog.futureDated.map(\.timestamp)
                if let newest = catalog.newestGood {
                    status.newestGoodSet = newest.timestamp
                    status.ageSeconds = now.timeIntervalSince(newest.timestamp.date)
                    status.artifacts = ListedArtifact.rows(newest.objects)
                    status.verified = newest.isVerified
                    status.restoreTest = newest.manifest?.artifacts.compactMap(\.restoreTest).max { $0.checkedAt < $1.checkedAt }
                }
                status.sources = plan.sources.map { planned in
                    let newest = catalog.entry(for: .latest, holding: [planned.source.name])
                    return SourceStatus(source: planned.source.name, newestGoodSet: newest?.timestamp,
                                        ageSeconds: newest.map { now.timeIntervalSince($0.timestamp.date) },
                                        stale: limit.map { StaleReport.check(newest: newest?.timestamp, limit: $0, now: now) != nil })
                }
            } catch {
                status.error = "\(error)"
            }
            if let limit {
                status.stale = StaleReport.check(newest: status.newestGoodSet, limit: limit, now: now) != nil
                    || status.sources.contains { $0.stale == true }
            }
            sinks.append(status)
        }
        var report = Status(plan: plan.name, lastRun: state.lastRun, lastFailure: state.lastFailure, sinks: sinks, maxAgeSeconds: limit?.seconds)
        for archive in PITRMaintenance.archives(in: plan) {
            if let pitr = try? await PITRStatus.gather(archive, now: now) { report.pitr.append(pitr) }
        }
        if global.json {
            Terminal.json(report, schema: .status)
        } else {
            print(report, now: now)
            for pitr in report.pitr { pitr.lines.forEach(Terminal.out) }
        }
        if sinks.contains(where: { $0.stale == true }) { throw ExitCode(ExitCodes.stale) }
        if sinks.contains(where: { $0.error != nil }) { throw ExitCode(ExitCodes.failure) }
    }

    private func print(_ status: Status, now: Date) {
        Terminal.out("plan '\(status.plan)'")
        if let last = status.lastRun {
            Terminal.out("  last run:     \(last.set.map(\.description) ?? "no set") \(last.status.rawValue) at \(last.finishedAt.formatted(.iso8601)) in \(formatDuration(last.durationSeconds))")
        } else {
            Terminal.out("  last run:     none recorded on this host")
        }
        if let failure = status.lastFailure {
            Terminal.out("  last failure: \(failure.finishedAt.formatted(.iso8601)): \(failure.error?.message ?? "unknown")")
        }
        for sink in status.sinks {
            var line = "  sink '\(sink.sink)': "
            if let error = sink.error {
                line += "cannot be read: \(error)"
            } else if let newest = sink.newestGoodSet {
                line += "newest good set \(newest), \(formatDuration(sink.ageSeconds ?? 0)) old, \(sink.artifacts.count) artifact(s), \(formatBytes(sink.artifacts.reduce(0) { $0 + $1.size }))"
                line += sink.verified == true ? ", verified" : ", NOT verified"
                if let drill = sink.restoreTest { line += drill.passed ? ", restore drill passed \(drill.checkedAt.formatted(.iso8601))" : ", restore drill FAILED" }
            } else {
                line += "no good set"
            }
            if sink.stale == true { line += "  STALE (older than \(formatDuration(status.maxAgeSeconds ?? 0)))" }
            Terminal.out(line)
            for future in sink.futureDatedSets {
                Terminal.out("      WARNING: set \(future) is dated \(formatDuration(future.date.timeIntervalSince(now))) in the future (a wrong clock or a tampered set): it does not count; `backupctl list` shows it")
            }
            for artifact in sink.artifacts { Terminal.out("      \(artifact.name)  \(formatBytes(artifact.size))") }
            // A source whose newest set is older than the sink's newest (a partial set left it out).
            for source in sink.sources where source.newestGoodSet != sink.newestGoodSet || source.stale == true {
                var text = "      source '\(source.source)': "
                if let newest = source.newestGoodSet {
                    text += "newest good set \(newest), \(formatDuration(source.ageSeconds ?? 0)) old"
                } else {
                    text += "in no good set"
                }
                if source.stale == true { text += "  STALE" }
                Terminal.out(text)
            }
            if let failure = sink.lastFailure { Terminal.out("      last failure \(failure.formatted(.iso8601)): \(sink.lastError ?? "")") }
        }
    }
}
