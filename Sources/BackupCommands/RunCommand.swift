import ArgumentParser
import BackupKit
import BackupSources
import Foundation

struct RunCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "run",
        abstract: "Make one backup set: write each source's artifact, verify it, store it in every sink, write the manifest, apply retention, send alerts.",
        discussion: """
        Only one run of a plan works at a time; a second one exits 5 at once. Retention runs only after a \
        run that stored the set. SIGTERM or SIGINT stops the run at the next safe point: sources and \
        uploads are cancelled, the after_backup hooks run, a failure alert says "interrupted", the state \
        is recorded, staging is cleaned, and the exit code is 16; a second signal stops it at once. \
        On a terminal, stderr shows a bar per phase (dump or archive, verify, each upload) while it runs. \
        Every sink is checked before anything is written (reachable, credentials, bucket or directory, \
        writable); a sink that fails is reported and left out, and the others still get the set, unless \
        the plan says require_all_sinks: true or no sink is left: then the run fails before writing.
        Exit codes: 0 stored everywhere, 4 stored but a sink failed (its check or storing), 1 failed (also \
        no usable sink), 3 verification failed, 2 plan error, 5 locked, 7 disk full, 16 interrupted.
        """
    )

    @OptionGroup var global: GlobalOptions

    @Option(name: .long, help: ArgumentHelp("Back up only this source (repeatable). The set is then partial.", valueName: "SOURCE"))
    var only: [String] = []

    @Option(name: .long, help: ArgumentHelp("Label the set, such as pre-deploy. Tagged sets are kept by retention.keep_tagged, not by the daily/weekly/monthly rules.", valueName: "TAG"))
    var tag: String?

    @Flag(name: .long, help: "Do not apply retention after the run.")
    var noPrune = false

    @Option(name: .long, help: ArgumentHelp("Wait a random time up to this long before starting (such as 5m), so many hosts started by one cron line do not all start at once.", valueName: "DURATION"))
    var jitter: String?

    @OptionGroup var metrics: MetricsFileOption

    func validate() throws {
        if let jitter, PlanDuration(parsing: jitter) == nil { throw ValidationError("--jitter \(jitter): write a duration such as 90s, 5m or 1h") }
    }

    func run() async throws {
        var plan = try await global.loadPlanOrAlert()
        metrics.apply(to: &plan)
        if let seconds = jitter.flatMap(PlanDuration.init(parsing:))?.seconds, seconds > 0 {
            try await Task.sleep(for: .seconds(Double.random(in: 0..<seconds)))
        }
        let runner = BackupRunner(plan: plan, logger: global.makeLogger())
        let options = BackupRunner.Options(onlySources: only, tag: tag, prune: !noPrune)
        let json = global.json
        let logger = global.makeLogger()
        let (result, signal) = await InterruptionHandler.run(announce: { name in
            "backupctl: \(name): stopping at the next safe point (after_backup hooks, alert, state); send it again to stop at once"
        }) {
            await runner.run(options) { event in
                switch event {
                case .progress, .phaseProgress: logger.trace("run event", metadata: ["event": "\(event)"])
                case .finished(let report): logger.debug("run finished", metadata: ["status": "\(report.status.rawValue)"])
                default: logger.debug("run event", metadata: ["event": "\(event)"])
                }
                if !json { ProgressPrinter.show(event) }
            }
        }
        var report = try result.get()
        Terminal.clearProgress()
        let pitr = await PITRMaintenance(plan: plan, planFile: global.planFile.map { resolvePath($0, against: FileManager.default.currentDirectoryPath) },
                                         executable: currentExecutable(), logger: logger) { archive, event, summary in
            await sendAlert(archive, event, summary)
        }.afterRun(report, prune: !noPrune && signal == nil)
        for outcome in pitr {
            for retention in outcome.retention where retention.error != nil { report.warnings.append(retention.error!) }
            if !outcome.gaps.isEmpty { report.warnings.append("source '\(outcome.source)': WAL gap: \(outcome.gaps.count) segment(s) missing, first \(outcome.gaps[0])") }
            if let drill = outcome.drill, !drill.passed { report.warnings.append(drill.summary) }
        }
        if global.json {
            Terminal.json(report, schema: .run)
        } else {
            printSummary(report)
            for outcome in pitr {
                for retention in outcome.retention where !retention.deleted.isEmpty {
                    Terminal.out("  WAL retention removed \(retention.deleted.count) file(s) of '\(outcome.source)' from '\(retention.sink)' (kept from \(retention.keptFrom ?? "?"))")
                }
                if let drill = outcome.drill { Terminal.out("  \(drill.summary)") }
            }
        }
        if let signal, report.error?.code == .cancelled {
            Terminal.error("backupctl: interrupted by \(signal): \(Self.cleanStop(staging: plan.resolvedStagingDirectory + "/" + plan.name)) (exit \(ExitCodes.interrupted))")
        }
        let code = ExitCodes.code(for: report)
        if code != 0 { throw ExitCode(code) }
    }

    /// How an interrupted run left things, as checked: a clean staging directory (the run removes what
    /// it staged), and sinks that never hold a partial file (their puts are atomic).
    static func cleanStop(staging: String) -> String {
        let left = (try? FileManager.default.contentsOfDirectory(atPath: staging)) ?? []
        guard left.isEmpty else {
            return "the run stopped, but the staging directory \(staging) still holds \(left.count) file(s); the next run removes them"
        }
        return "the run stopped cleanly: no staging file is left and no sink holds a partial artifact"
    }

    private func printSummary(_ report: RunReport) {
        let set = report.set.map { "set \($0)" } ?? "no set"
        Terminal.out("plan '\(report.plan)': \(set) \(report.status.rawValue) in \(formatDuration(report.durationSeconds))")
        for artifact in report.artifacts {
            let stored = report.sinks.filter { $0.status == .stored }.map(\.sink).joined(separator: ", ")
            let drill = artifact.restoreTest.map { $0.passed ? "  restore drill passed" : "  restore drill FAILED" } ?? ""
            Terminal.out("  \(artifact.name)  \(formatBytes(artifact.size))  verified\(drill)  stored in: \(stored.isEmpty ? "none" : stored)")
        }
        for sink in report.sinks where sink.status == .failed {
            Terminal.out("  sink '\(sink.sink)' FAILED: \(sink.error ?? "unknown error")")
        }
        for warning in report.warnings { Terminal.out("  warning: \(warning)") }
        for pruned in report.pruned where !pruned.deleted.isEmpty {
            Terminal.out("  retention removed from '\(pruned.sink)': \(pruned.deleted.map(\.description).joined(separator: ", "))")
        }
        for notification in report.notifications where notification.error != nil {
            Terminal.out("  notifier '\(notification.notifier)' failed: \(notification.error!)")
        }
        if let error = report.error {
            Terminal.error("backupctl: \(error.message)")
        }
    }
}
