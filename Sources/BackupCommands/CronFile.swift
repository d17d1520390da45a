import ArgumentParser
import BackupKit
import Foundation

/// An /etc/cron.d file for a plan. cron has no jitter of its own, so the plan's jitter becomes
/// `backupctl run --jitter`; the time zone becomes CRON_TZ.
struct CronFile {
    let file: (path: String, contents: String)

    init(plan: BackupPlan, user: String, log: String?, command: [String]) {
        let schedule = plan.resolvedSchedule
        var line = command.map(CronFile.quote)
        if let jitter = schedule.jitter, jitter.seconds > 0 { line += ["--jitter", "\(Int(jitter.seconds))s"] }
        let logFile = log ?? "/var/log/backupctl-\(plan.name).log"
        let contents = """
        # Written by `backupctl install cron` for plan '\(plan.name)'.
        SHELL=/bin/sh
        PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin
        CRON_TZ=\(schedule.timeZoneName)
        \(schedule.expression.text) \(user) \(line.joined(separator: " ")) >>\(logFile) 2>&1

        """
        file = ("/etc/cron.d/\(plan.name)-backup", contents)
    }

    static func quote(_ argument: String) -> String {
        argument.allSatisfy({ $0.isLetter || $0.isNumber || "/._-=:@".contains($0) }) ? argument : "'" + argument.replacingOccurrences(of: "'", with: "'\\''") + "'"
    }
}
