import ArgumentParser
import BackupKit
import Foundation

struct InstallCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "install",
        abstract: "Write the files that run the plan on its schedule from systemd or cron.",
        subcommands: [Systemd.self, Cron.self]
    )

    /// Options both installers take.
    struct InstallOptions: ParsableArguments {
        @Flag(name: .long, help: "Print the files instead of writing them.")
        var print = false

        @Option(name: .long, help: ArgumentHelp("Write under this directory instead of / (for tests and packaging).", valueName: "DIR"))
        var prefix: String?

        @Option(name: .long, help: ArgumentHelp("The backupctl the units run. Default: this one.", valueName: "PATH"))
        var backupctl: String?

        @Option(name: .customLong("plan-path"), help: ArgumentHelp("The plan file the installed job reads. Default: the one this command loaded.", valueName: "PATH"))
        var planPath: String?
    }

    struct Systemd: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Write backup.service and backup.timer (under /etc/systemd/system) matching the plan's schedule.",
            discussion: "Then: systemctl daemon-reload && systemctl enable --now backup.timer"
        )
        @OptionGroup var global: GlobalOptions
        @OptionGroup var options: InstallOptions
        @Option(name: .long, help: ArgumentHelp("The unit name. Default: backup.", valueName: "NAME"))
        var unit = "backup"

        func run() async throws {
            do {
                let plan = try global.loadPlan()
                let files = SystemdUnits(plan: plan, unit: unit, command: InstallCommand.command(global: global, options: options))
                try InstallCommand.emit(files.files, options: options)
            } catch { throw fail(error) }
        }
    }

    struct Cron: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Write /etc/cron.d/<plan>-backup matching the plan's schedule.")
        @OptionGroup var global: GlobalOptions
        @OptionGroup var options: InstallOptions
        @Option(name: .long, help: ArgumentHelp("The user the job runs as. Default: root.", valueName: "USER"))
        var user = "root"
        @Option(name: .long, help: ArgumentHelp("Where the job's output goes. Default: /var/log/backupctl-<plan>.log.", valueName: "FILE"))
        var log: String?

        func run() async throws {
            do {
                let plan = try global.loadPlan()
                let file = CronFile(plan: plan, user: user, log: log, command: InstallCommand.command(global: global, options: options))
                try InstallCommand.emit([file.file], options: options)
            } catch { throw fail(error) }
        }
    }

    /// `backupctl run --config /abs/path/backup.yml`, with absolute paths.
    static func command(global: GlobalOptions, options: InstallOptions) -> [String] {
        let executable = options.backupctl ?? (try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/exe")) ?? CommandLine.arguments[0]
        var command = [executable, "run"]
        if let file = options.planPath ?? global.planFile { command += ["--config", resolvePath(file, against: FileManager.default.currentDirectoryPath)] }
        return command
    }

    static func emit(_ files: [(path: String, contents: String)], options: InstallOptions) throws {
        for (path, contents) in files {
            if options.print {
                Terminal.out("# \(path)")
                Terminal.out(contents)
                continue
            }
            let target = (options.prefix.map { $0.hasSuffix("/") ? String($0.dropLast()) : $0 } ?? "") + path
            let directory = (target as NSString).deletingLastPathComponent
            try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
            try AtomicFileWriter.write(Array(contents.utf8), to: target, mode: 0o644)
            Terminal.out("wrote \(target)")
        }
    }
}

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
        # A run keeps going after the unit is asked to stop; the lock and staging clean-up handle a kill.
        TimeoutStopSec=30min

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
}

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

/// Cron fields in systemd's calendar syntax (`*-*-* 02:00:00 Europe/Prague`). When both the day of month
/// and the day of week are restricted, cron runs on either, so two OnCalendar lines are written.
enum SystemdCalendar {
    static let dayNames = ["Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"]

    static func onCalendar(for expression: CronExpression, zoneName: String) -> [String] {
        let minutes = list(expression.minutes, full: 0...59)
        let hours = list(expression.hours, full: 0...23)
        let months = list(expression.months, full: 1...12)
        let days = list(expression.daysOfMonth, full: 1...31)
        let weekdays = expression.daysOfWeek.count == 7 ? nil : expression.daysOfWeek.sorted().map { dayNames[$0] }.joined(separator: ",")
        let zone = " " + zoneName
        let time = "\(hours):\(minutes):00"
        switch (expression.dayOfMonthRestricted, expression.dayOfWeekRestricted) {
        case (true, true):
            return ["*-\(months)-\(days) \(time)\(zone)", "\(weekdays ?? "*") *-\(months)-* \(time)\(zone)"]
        case (false, true):
            return ["\(weekdays.map { "\($0) " } ?? "")*-\(months)-* \(time)\(zone)"]
        default:
            return ["*-\(months)-\(days) \(time)\(zone)"]
        }
    }

    /// The runs our schedule makes inside the hour after a spring-forward change, for scheduled wall-clock
    /// times that do not exist that day — the runs a systemd calendar in the zone would skip.
    static func gapRuns(for expression: CronExpression, timeZone: TimeZone, from start: Date, years: Int) -> [Date] {
        let schedule = CronSchedule(expression, timeZone: timeZone)
        let end = start.addingTimeInterval(Double(years) * 365.25 * 86400)
        var runs: [Date] = []
        var cursor = start
        while let transition = timeZone.nextDaylightSavingTimeTransition(after: cursor), transition < end {
            cursor = transition
            let before = timeZone.secondsFromGMT(for: transition.addingTimeInterval(-1))
            let gap = timeZone.secondsFromGMT(for: transition) - before
            guard gap > 0 else { continue }
            var probe = transition.addingTimeInterval(-1)
            while let run = schedule.next(after: probe), run < transition.addingTimeInterval(Double(gap)) {
                probe = run
                // A run whose actual local time is not itself scheduled comes from a time that did not
                // exist: systemd will not fire it.
                let local = SetTimestamp(secondsSince1970: Int64(run.timeIntervalSince1970) + Int64(before + gap)).utc
                if !(expression.hours.contains(local.hour) && expression.minutes.contains(local.minute)) {
                    runs.append(run)
                }
            }
        }
        return runs
    }

    static func utcStamp(_ date: Date) -> String {
        let text = SetTimestamp(date).iso8601
        return text.replacingOccurrences(of: "T", with: " ").replacingOccurrences(of: "Z", with: "")
    }

    /// `*` for a full field, else comma-separated values with `a..b` runs.
    static func list(_ values: Set<Int>, full: ClosedRange<Int>) -> String {
        if values.count == full.count { return "*" }
        let sorted = values.sorted()
        var parts: [String] = []
        var start = sorted[0], previous = sorted[0]
        for value in sorted.dropFirst() + [Int.max] {
            if value == previous + 1 { previous = value; continue }
            parts.append(start == previous ? String(format: "%02d", start) : String(format: "%02d..%02d", start, previous))
            start = value
            previous = value
        }
        return parts.joined(separator: ",")
    }
}
