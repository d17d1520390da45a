import ArgumentParser
import BackupKit
import Foundation
import Logging
import ServiceLifecycle

struct ScheduleCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "schedule",
        abstract: "Run the plan on its schedule, as a long-running process (the compose service `backup`).",
        discussion: """
        The schedule is the plan's `schedule:` (5-field cron, or @daily / @hourly), else BACKUP_SCHEDULE, \
        else "0 2 * * *" — read in the plan's `timezone:` (else BACKUP_TIMEZONE, TZ, the system's). When \
        clocks go back, a time that happens twice runs once; when they go forward, a time that does not \
        exist runs shifted by the gap, so no day is skipped. Between runs it prints the next run time. A \
        failed run does not stop it; overlapping runs are refused by the plan's lock. SIGTERM or SIGINT \
        stops it gracefully: a wait ends at once, a run in flight finishes first. Exit code 0 after a \
        graceful stop.
        """
    )

    @OptionGroup var global: GlobalOptions

    @Flag(name: .long, help: "Run once right away, then follow the schedule (also: run_at_start: true in the plan).")
    var runAtStart = false

    @Option(name: .long, help: ArgumentHelp("Serve Prometheus metrics at http://ADDR/metrics, such as 0.0.0.0:9108.", valueName: "ADDR"))
    var metricsListen: String?

    @OptionGroup var metrics: MetricsFileOption

    func run() async throws {
        var plan = try await global.loadPlanOrAlert()
        metrics.apply(to: &plan)
        let settings = plan.resolvedSchedule
        let logger = global.makeLogger()
        let name = plan.name
        let scheduler = BackupScheduler(
            plan: plan, schedule: settings.cronSchedule, runAtStart: runAtStart || settings.runAtStart, logger: logger,
            onEvent: { event in
                switch event {
                case .nextRun(let date):
                    Terminal.out("next run of plan '\(name)' at \(LocalTime.text(date, in: settings.timeZone)) (schedule \(settings.expression), \(settings.timeZoneName))")
                case .runStarted:
                    Terminal.out("run of plan '\(name)' started")
                case .runFinished(let report):
                    let set = report.set.map { "set \($0)" } ?? "no set"
                    Terminal.out("run of plan '\(name)' \(report.status.rawValue): \(set) in \(formatDuration(report.durationSeconds))\(report.error.map { ": \($0.message)" } ?? "")")
                }
            }
        )
        var services: [ServiceGroupConfiguration.ServiceConfiguration] = [
            .init(service: scheduler, successTerminationBehavior: .gracefullyShutdownGroup, failureTerminationBehavior: .gracefullyShutdownGroup),
        ]
        if let metricsListen {
            let statePath = plan.statePath
            let server: MetricsServer
            do {
                server = try MetricsServer(address: metricsListen, logger: logger) {
                    MetricsExporter.exposition(for: RunState.load(path: statePath, plan: name))
                }
            } catch { throw fail(error) }
            Terminal.out("serving metrics at http://\(metricsListen.split(separator: ":").dropLast().joined(separator: ":")):\(server.port)/metrics")
            services.append(.init(service: server))
        }
        let group = ServiceGroup(configuration: ServiceGroupConfiguration(services: services, gracefulShutdownSignals: [.sigterm, .sigint], logger: logger))
        do {
            try await group.run()
        } catch {
            throw fail(error)
        }
        Terminal.out("schedule of plan '\(plan.name)' stopped")
    }

}

/// A plan that cannot be loaded must not be silent: tell whichever notifiers can still be found.
func alertAboutBrokenPlan(_ error: any Error, global: GlobalOptions) async {
    let (name, notifiers) = global.loader().notifiersForBrokenPlan(file: global.planFile)
    guard !notifiers.isEmpty else { return }
    let failure = (error as? BackupError) ?? BackupError(.invalidPlan, readableDescription(of: error), underlying: error)
    let host = currentHostName()
    let alert = Alert(event: .failure, plan: name, host: host,
                      summary: "Backup of '\(name)' on \(host) FAILED before it started: the plan cannot be loaded: \(failure.message)",
                      error: ReportedError(failure))
    let outcomes = await AlertDispatcher(notifiers: notifiers, logger: global.makeLogger()).send([alert])
    for outcome in outcomes where outcome.error != nil {
        Terminal.error("notifier '\(outcome.notifier)' failed: \(outcome.error!)")
    }
}
