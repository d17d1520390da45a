@testable import BackupKit
import Foundation
import Testing

/// Cron parsing and next-run computation across month ends, leap days and DST changes.
@Suite struct CronScheduleTests {
    static let prague = TimeZone(identifier: "Europe/Prague")!
    static let newYork = TimeZone(identifier: "America/New_York")!

    static func utc(_ text: String) -> Date {
        let formatter = ISO8601DateFormatter()
        return formatter.date(from: text)!
    }

    static func iso(_ date: Date?) -> String {
        date.map { ISO8601DateFormatter().string(from: $0) } ?? "nil"
    }

    /// The next `count` runs after `start`, in UTC ISO 8601.
    static func runs(_ expression: String, zone: TimeZone = TimeZone(identifier: "UTC")!, from start: String, count: Int) throws -> [String] {
        let schedule = CronSchedule(try CronExpression(expression), timeZone: zone)
        var date = utc(start)
        var result: [String] = []
        for _ in 0..<count {
            guard let next = schedule.next(after: date) else { break }
            result.append(iso(next))
            date = next
        }
        return result
    }

    @Test func parsing() throws {
        let expression = try CronExpression("*/15 2,14 1-5 jan,jul mon-fri")
        #expect(expression.minutes == [0, 15, 30, 45] && expression.hours == [2, 14] && expression.daysOfMonth == [1, 2, 3, 4, 5])
        #expect(expression.months == [1, 7] && expression.daysOfWeek == [1, 2, 3, 4, 5])
        #expect(try CronExpression("0 0 * * 7").daysOfWeek == [0], "7 is Sunday")
        #expect(try CronExpression("@daily") == CronExpression("@daily") && CronExpression("@daily").hours == [0])
        #expect(try CronExpression("@hourly").minutes == [0] && CronExpression("@hourly").hours.count == 24)
        #expect(try CronExpression("10-50/20 * * * *").minutes == [10, 30, 50])
        for bad in ["", "* * * *", "61 * * * *", "* 24 * * *", "* * 0 * *", "* * * 13 *", "* * * * 8", "@every", "5-1 * * * *", "*/0 * * * *",
                    "0 0 30 2 *", "a * * * *"] {
            #expect(throws: BackupError.self, "\(bad)") { try CronExpression(bad) }
        }
        let error = #expect(throws: BackupError.self) { try CronExpression("0 25 * * *") }
        #expect(error?.message.contains("hour field '25'") == true && error?.message.contains("outside 0-23") == true, "\(String(describing: error))")
    }

    @Test func dailyAtTwoAndMonthEnds() throws {
        #expect(try Self.runs("0 2 * * *", from: "2024-11-29T03:00:00Z", count: 3) == ["2024-11-30T02:00:00Z", "2024-12-01T02:00:00Z", "2024-12-02T02:00:00Z"])
        // The 31st exists in only seven months.
        #expect(try Self.runs("0 0 31 * *", from: "2024-01-31T12:00:00Z", count: 4) ==
            ["2024-03-31T00:00:00Z", "2024-05-31T00:00:00Z", "2024-07-31T00:00:00Z", "2024-08-31T00:00:00Z"])
        #expect(try Self.runs("59 23 * * *", from: "2024-12-31T23:59:00Z", count: 1) == ["2025-01-01T23:59:00Z"])
        #expect(try Self.runs("0 0 1 * *", from: "2024-12-15T00:00:00Z", count: 2) == ["2025-01-01T00:00:00Z", "2025-02-01T00:00:00Z"])
    }

    @Test func leapDays() throws {
        #expect(try Self.runs("0 3 29 2 *", from: "2025-03-01T00:00:00Z", count: 3) == ["2028-02-29T03:00:00Z", "2032-02-29T03:00:00Z", "2036-02-29T03:00:00Z"])
        #expect(try Self.runs("0 0 28-29 2 *", from: "2024-02-28T00:00:00Z", count: 2) == ["2024-02-29T00:00:00Z", "2025-02-28T00:00:00Z"])
        // 2100 is not a leap year.
        #expect(try Self.runs("0 0 29 2 *", from: "2096-03-01T00:00:00Z", count: 1) == ["2104-02-29T00:00:00Z"])
    }

    @Test func dayOfMonthOrDayOfWeek() throws {
        // Both restricted: either matches, as in every cron.
        #expect(try Self.runs("0 0 13 * fri", from: "2026-11-01T00:00:00Z", count: 4) ==
            ["2026-11-06T00:00:00Z", "2026-11-13T00:00:00Z", "2026-11-20T00:00:00Z", "2026-11-27T00:00:00Z"])
        #expect(try Self.runs("0 0 1 * mon", from: "2026-11-27T00:00:00Z", count: 3) == ["2026-11-30T00:00:00Z", "2026-12-01T00:00:00Z", "2026-12-07T00:00:00Z"])
    }

    /// Europe/Prague: 2026-03-29 02:00 CET → 03:00 CEST; 2026-10-25 03:00 CEST → 02:00 CET.
    @Test func springForwardRunsEveryDayShiftedByTheGap() throws {
        let runs = try Self.runs("30 2 * * *", zone: Self.prague, from: "2026-03-27T12:00:00Z", count: 4)
        #expect(runs == ["2026-03-28T01:30:00Z", "2026-03-29T01:30:00Z", "2026-03-30T00:30:00Z", "2026-03-31T00:30:00Z"],
                "02:30 CET, then 03:30 CEST on the day 02:30 does not exist, then 02:30 CEST")
        #expect(try Self.runs("0 3 * * *", zone: Self.prague, from: "2026-03-28T12:00:00Z", count: 1) == ["2026-03-29T01:00:00Z"])
    }

    @Test func fallBackRunsOnce() throws {
        let runs = try Self.runs("30 2 * * *", zone: Self.prague, from: "2026-10-24T12:00:00Z", count: 3)
        #expect(runs == ["2026-10-25T00:30:00Z", "2026-10-26T01:30:00Z", "2026-10-27T01:30:00Z"], "02:30 happens twice on the 25th; it runs once")
        let hourly = try Self.runs("30 * * * *", zone: Self.prague, from: "2026-10-24T23:00:00Z", count: 4)
        #expect(hourly == ["2026-10-24T23:30:00Z", "2026-10-25T00:30:00Z", "2026-10-25T02:30:00Z", "2026-10-25T03:30:00Z"],
                "the repeated 02:30 is not run a second time")
    }

    @Test func newYorkChanges() throws {
        // 2026-03-08 02:00 EST → 03:00 EDT; 2026-11-01 02:00 EDT → 01:00 EST.
        #expect(try Self.runs("15 2 * * *", zone: Self.newYork, from: "2026-03-07T12:00:00Z", count: 3) ==
            ["2026-03-08T07:15:00Z", "2026-03-09T06:15:00Z", "2026-03-10T06:15:00Z"])
        #expect(try Self.runs("30 1 * * *", zone: Self.newYork, from: "2026-10-31T12:00:00Z", count: 2) ==
            ["2026-11-01T05:30:00Z", "2026-11-02T06:30:00Z"])
    }

    @Test func jitterStaysWithinItsBound() throws {
        let schedule = CronSchedule(try CronExpression("0 2 * * *"), timeZone: TimeZone(identifier: "UTC")!, jitter: 300)
        let base = Self.utc("2026-11-26T00:00:00Z")
        for _ in 0..<50 {
            let next = try #require(schedule.nextWithJitter(after: base))
            #expect(next >= Self.utc("2026-11-26T02:00:00Z") && next < Self.utc("2026-11-26T02:05:00Z"))
        }
    }

    /// Our next runs agree with systemd's for the timers `backupctl install systemd` writes.
    @Test(arguments: ["0 2 * * *", "*/20 9-17 * * mon-fri", "30 2 * * *", "0 0 31 * *", "0 3 1,15 * sun"])
    func agreesWithSystemd(expression: String) throws {
        let cron = try CronExpression(expression)
        let lines = SystemdCalendarFixture.onCalendar(for: cron, zone: Self.prague)
        var systemd = Set<String>()
        for line in lines {
            let result = try runProcess("/usr/bin/systemd-analyze", ["calendar", "--iterations=12", "--base-time=2027-03-25 00:00:00 UTC", line],
                                        environment: ["TZ": "UTC", "PATH": "/usr/bin:/bin"])
            try #require(result.status == 0, "systemd-analyze rejected \(line): \(result.stderr)")
            guard !line.hasSuffix(" UTC") || line.hasPrefix("20") else { continue }
            if line.hasSuffix(" UTC") {
                // A one-off entry for a day clocks go forward: "2027-03-28 01:30:00 UTC".
                systemd.insert(String(line.dropLast(4)))
                continue
            }
            for raw in result.stdout.split(separator: "\n") where raw.contains("UTC") && (raw.contains("Next elapse") || raw.contains("Iter.")) {
                // "    Next elapse: Sat 2027-03-27 01:00:00 UTC"
                let stamp = raw.split(separator: " ").suffix(3).prefix(2).joined(separator: " ")  // "2026-03-27 01:00:00"
                systemd.insert(stamp)
            }
        }
        let ours = try Self.runs(expression, zone: Self.prague, from: "2027-03-25T00:00:00Z", count: 12)
            .map { $0.replacingOccurrences(of: "T", with: " ").replacingOccurrences(of: "Z", with: "") }
        let firstTwelve = Array(systemd.sorted().prefix(12))
        #expect(ours == firstTwelve, "ours: \(ours)\nsystemd: \(firstTwelve)")
    }
}

/// The same conversion `backupctl install systemd` does, reached through the CLI's output.
enum SystemdCalendarFixture {
    static func onCalendar(for expression: CronExpression, zone: TimeZone) -> [String] {
        let dir = try! TemporaryDirectory("calendar")
        defer { dir.remove() }
        try! writeFile(dir.sub("data/x"), "x")
        try! writeFile(dir.sub("backup.yml"), """
            sources: [{ name: d, type: directory, path: ./data }]
            sinks: [{ name: local, type: local, path: ./backups }]
            schedule: "\(expression.text)"
            timezone: \(zone.identifier)
            """)
        let output = (try? backupctl(["install", "systemd", "--print", "--backupctl", "/usr/bin/backupctl"], in: dir.path).stdout) ?? ""
        return output.split(separator: "\n").filter { $0.hasPrefix("OnCalendar=") }.map { String($0.dropFirst("OnCalendar=".count)) }
    }
}
