import Foundation
import Logging
import ServiceLifecycle

/// Runs a plan on its schedule, as a long-running `Service` (swift-service-lifecycle), for the compose
/// service `backup` and other daemons.
///
/// Between runs it waits for the next scheduled time (plus jitter) and says so through `onEvent`. A run
/// that fails does not stop it; a run that finds the lock taken (a manual run) fails like any other and
/// the schedule goes on. On graceful shutdown (SIGTERM) the wait ends at once, and a run in flight is
/// allowed to finish before `run()` returns; cancelling the service cancels the run, which then cleans up
/// its staging files and releases the lock.
public struct BackupScheduler: Service {
    public enum Event: Sendable {
        /// The next run's time, after jitter.
        case nextRun(Date)
        case runStarted(Date)
        case runFinished(RunReport)
    }

    public var plan: BackupPlan
    public var schedule: CronSchedule
    public var runAtStart: Bool
    public var logger: Logger
    public var onEvent: @Sendable (Event) -> Void
    public var onRunEvent: @Sendable (BackupEvent) -> Void

    public init(plan: BackupPlan, schedule: CronSchedule, runAtStart: Bool = false, logger: Logger,
                onEvent: @escaping @Sendable (Event) -> Void = { _ in }, onRunEvent: @escaping @Sendable (BackupEvent) -> Void = { _ in }) {
        self.plan = plan
        self.schedule = schedule
        self.runAtStart = runAtStart
        self.logger = logger
        self.onEvent = onEvent
        self.onRunEvent = onRunEvent
    }

    public func run() async throws {
        var runNow = runAtStart
        while !Task.isShuttingDownGracefully && !Task.isCancelled {
            if !runNow {
                guard let next = schedule.nextWithJitter(after: Date()) else {
                    throw BackupError(.invalidPlan, "the schedule '\(schedule)' has no next run time")
                }
                onEvent(.nextRun(next))
                logger.info("next run", metadata: ["at": "\(next)", "schedule": "\(schedule)"])
                do {
                    try await cancelWhenGracefulShutdown {
                        try await Task.sleep(for: .seconds(max(0, next.timeIntervalSinceNow)))
                    }
                } catch {
                    break  // shutting down while waiting
                }
                guard !Task.isShuttingDownGracefully else { break }
            }
            runNow = false
            onEvent(.runStarted(Date()))
            // Not tied to graceful shutdown: a run in flight finishes, so no half-made set is left behind.
            let report = await BackupRunner(plan: plan, logger: logger).run(onEvent: onRunEvent)
            onEvent(.runFinished(report))
        }
    }
}
