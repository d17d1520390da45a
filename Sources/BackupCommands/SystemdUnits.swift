import ArgumentParser
import BackupKit
import Foundation

/// A systemd service and timer for a plan: the timer's OnCalendar follows the cron expression in the
/// plan's time zone, with its jitter as RandomizedDelaySec and Persistent=true so a missed run (the host
/// was off) runs at the next boot.
struct SystemdUnits {
    let files: [(path: String, contents: String)]

    init(plan: BackupPlan, unit: String, command: [String]) {
        let schedule = plan.resolvedSchedule
        let calendars = SystemdCalendar.onCalendar(for: schedule.expression, zoneName: schedule.timeZoneName)
        let service = """
        # Written by `backupctl install systemd` for plan '\(plan.name)'.
        [Unit]
        Description=BackupKit backup of plan \(plan.name)
        Wants=network-online.target
        After=network-online.target

        [Service]
        Type=oneshot
        ExecStart=\(command.map(SystemdUnits.quote).joined(separator: " "))
        Nice=10
        IOSchedulingClass=best-effort
        IOSchedulingPriority=7
        # On stop, SIGTERM goes to backupctl alone (KillMode=mixed): it cancels its sources and uploads,
        # runs the after_backup hooks, alerts and records the state, then exits 16. Whatever is left
        # after TimeoutStopSec is killed; the lock and the staging clean-up handle that too.
        KillMode=mixed
        TimeoutStopSec=\(SystemdUnits.stopTimeoutMinutes(plan))min

        """
        var timer = """
        # Written by `backupctl install systemd` for plan '\(plan.name)': schedule "\(schedule.expression)" in \(schedule.timeZoneName).
        [Unit]
        Description=Schedule of the BackupKit backup of plan \(plan.name)

        [Timer]

        """
        for calendar in calendars { timer += "OnCalendar=\(calendar)\n" }
        let gapRuns = SystemdCalendar.gapRuns(for: schedule.expression, timeZone: schedule.timeZone, from: Date(), years: 10)
        if !gapRuns.isEmpty {
            timer += "# On days clocks go forward, some scheduled times do not exist in \(schedule.timeZoneName); systemd would skip them,\n"
            timer += "# backupctl runs them shifted by the gap. These entries (the next 10 years) keep that day's run:\n"
            for run in gapRuns { timer += "OnCalendar=\(SystemdCalendar.utcStamp(run)) UTC\n" }
        }
        if let jitter = schedule.jitter, jitter.seconds > 0 { timer += "RandomizedDelaySec=\(Int(jitter.seconds))\n" }
        timer += "Persistent=true\nUnit=\(unit).service\n\n[Install]\nWantedBy=timers.target\n"
        files = [("/etc/systemd/system/\(unit).service", service), ("/etc/systemd/system/\(unit).timer", timer)]
    }

    static func quote(_ argument: String) -> String {
        argument.contains(where: { $0 == " " || $0 == "\"" || $0 == "\\" }) ? "\"\(argument.replacingOccurrences(of: "\\", with: "\\\\").replacingOccurrences(of: "\"", with: "\\\""))\"" : argument
    }

    /// Long enough for a stopped run to finish gracefully: every after_backup hook at its timeout, and
    /// five minutes for cancelling, alerting and recording the state.
    static func stopTimeoutMinutes(_ plan: BackupPlan) -> Int {
        Int((Double(plan.hooks.afterBackup.count) * plan.hooks.timeout.seconds / 60).rounded(.up)) + 5
    }
}
