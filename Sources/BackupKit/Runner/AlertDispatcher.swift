import Logging

/// Builds the alerts a run report calls for and sends each through every notifier that wants it.
/// A notifier that fails is logged and recorded; it never changes the run's outcome.
package struct AlertDispatcher: Sendable {
    public var notifiers: [FilteredNotifier]
    public var logger: Logger

    public init(notifiers: [FilteredNotifier], logger: Logger) {
        self.notifiers = notifiers
        self.logger = logger
    }

    public func send(for report: RunReport, emit: @escaping @Sendable (BackupEvent) -> Void = { _ in }) async -> [NotificationOutcome] {
        await send(Alert.alerts(for: report), emit: emit)
    }

    /// Sends every alert to every notifier that accepts it, notifiers in parallel.
    public func send(_ alerts: [Alert], emit: @escaping @Sendable (BackupEvent) -> Void = { _ in }) async -> [NotificationOutcome] {
        await withTaskGroup(of: [NotificationOutcome].self) { group in
            for notifier in notifiers {
                group.addTask {
                    var outcomes: [NotificationOutcome] = []
                    for alert in alerts where notifier.accepts(alert.event) {
                        var outcome = NotificationOutcome(notifier: notifier.name, event: alert.event)
                        do {
                            try await notifier.send(alert)
                        } catch {
                            outcome.error = "\(error)"
                            logger.error("notifier failed", metadata: ["notifier": "\(notifier.name)", "event": "\(alert.event.rawValue)", "error": "\(error)"])
                        }
                        emit(.notified(notifier: notifier.name, event: alert.event, error: outcome.error))
                        outcomes.append(outcome)
                    }
                    return outcomes
                }
            }
            var all: [NotificationOutcome] = []
            for await outcomes in group { all += outcomes }
            return all.sorted { ($0.notifier, $0.event.rawValue) < ($1.notifier, $1.event.rawValue) }
        }
    }
}

extension Alert {
    /// The alerts a run calls for: one for its outcome, and one more when retention deleted sets.
    public static func alerts(for report: RunReport) -> [Alert] {
        let artifacts = report.artifacts.map { AlertArtifact(name: $0.name, source: $0.source, size: $0.size, durationSeconds: $0.durationSeconds) }
        let total = formatBytes(report.artifacts.reduce(0) { $0 + $1.size })
        let duration = formatDuration(report.durationSeconds)
        var alerts: [Alert] = []
        func make(_ event: AlertEvent, _ summary: String, error: ReportedError? = nil) -> Alert {
            Alert(event: event, plan: report.plan, host: report.host, set: report.set?.description, time: report.finishedAt,
                  summary: summary, error: error,
                  artifacts: artifacts, sinks: report.sinks)
        }
        switch report.status {
        case .failed:
            let error = report.error ?? ReportedError(code: .sourceFailed, message: "unknown failure")
            let event: AlertEvent = switch error.code {
            case .verificationFailed: .verificationFailure
            case .missingCredentials: .missingCredentials
            case .diskSpace: .diskSpace
            default: .failure
            }
            alerts.append(make(event, "Backup of '\(report.plan)' on \(report.host) FAILED: \(error.message)", error: error))
        case .degraded:
            let failed = report.sinks.filter { $0.status == .failed }
            let stored = report.sinks.filter { $0.status == .stored }.map(\.sink).joined(separator: ", ")
            let detail = failed.map { "\($0.sink): \($0.error ?? "failed")" }.joined(separator: "; ")
            alerts.append(make(.degraded, "Backup of '\(report.plan)' on \(report.host) DEGRADED: stored in \(stored), failed in \(detail)",
                               error: ReportedError(code: .sinkFailed, message: detail)))
        case .succeeded:
            alerts.append(make(.succeeded, "Backup of '\(report.plan)' on \(report.host) succeeded: \(report.artifacts.count) artifact(s), \(total), in \(duration)"))
        }
        if let stale = report.stale {
            let since = stale.newestGoodSet.map { "the newest good set is \($0) (\(formatDuration(stale.ageSeconds ?? 0)) old)" } ?? "there is no good set at all"
            alerts.append(make(.stale, "Backups of '\(report.plan)' on \(report.host) are STALE: \(since); the limit is \(formatDuration(stale.limitSeconds))",
                               error: report.error))
        }
        let deleted = report.pruned.flatMap { outcome in outcome.deleted.map { "\(outcome.sink):\($0)" } }
        if !deleted.isEmpty {
            alerts.append(make(.pruned, "Retention for '\(report.plan)' removed \(deleted.count) set(s): \(deleted.joined(separator: ", "))"))
        }
        return alerts
    }
}

/// `1m 2s`, `3h 4m`, `0.4s`.
package func formatDuration(_ seconds: Double) -> String {
    if seconds < 10 { return "\((seconds * 10).rounded() / 10)s" }
    let total = Int(seconds.rounded())
    if total < 60 { return "\(total)s" }
    if total < 3600 { return "\(total / 60)m \(total % 60)s" }
    return "\(total / 3600)h \((total % 3600) / 60)m"
}
