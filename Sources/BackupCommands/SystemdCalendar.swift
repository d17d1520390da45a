import ArgumentParser
import BackupKit
import Foundation

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
