/// A standard 5-field cron expression — minute, hour, day of month, month, day of week — or one of
/// `@yearly` (`@annually`), `@monthly`, `@weekly`, `@daily` (`@midnight`), `@hourly`.
///
/// Fields take `*`, numbers, ranges (`1-5`), lists (`1,15`), steps (`*/15`, `0-30/10`), and names for
/// months (`jan`) and weekdays (`mon`; 0 and 7 are Sunday). As in every cron, when both the day of month
/// and the day of week are restricted, a day matching either runs.
public struct CronExpression: Sendable, Hashable, CustomStringConvertible {
    public let minutes: Set<Int>
    public let hours: Set<Int>
    public let daysOfMonth: Set<Int>
    public let months: Set<Int>
    /// 0 (Sunday) to 6 (Saturday).
    public let daysOfWeek: Set<Int>
    /// Whether the day-of-month / day-of-week field is anything but `*` (cron ORs them when both are).
    public let dayOfMonthRestricted: Bool
    public let dayOfWeekRestricted: Bool
    /// The expression as written.
    public let text: String

    public var description: String { text }

    static let macros = ["@yearly": "0 0 1 1 *", "@annually": "0 0 1 1 *", "@monthly": "0 0 1 * *", "@weekly": "0 0 * * 0",
                         "@daily": "0 0 * * *", "@midnight": "0 0 * * *", "@hourly": "0 * * * *"]
    static let monthNames = ["jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec"]
    static let dayNames = ["sun", "mon", "tue", "wed", "thu", "fri", "sat"]

    public init(_ text: String) throws {
        self.text = text
        let trimmed = text.trimmingCharacters(in: .whitespaces).lowercased()
        let expanded = Self.macros[trimmed] ?? trimmed
        if trimmed.hasPrefix("@") && Self.macros[trimmed] == nil {
            throw BackupError(.invalidPlan, "'\(text)' is not a cron expression: the macros are \(Self.macros.keys.sorted().joined(separator: ", "))")
        }
        let fields = expanded.split(whereSeparator: { $0 == " " || $0 == "\t" }).map(String.init)
        guard fields.count == 5 else {
            throw BackupError(.invalidPlan, "'\(text)' is not a cron expression: it needs 5 fields (minute hour day-of-month month day-of-week), such as \"0 2 * * *\", or @daily / @hourly")
        }
        minutes = try Self.parse(fields[0], name: "minute", range: 0...59, names: [], text: text)
        hours = try Self.parse(fields[1], name: "hour", range: 0...23, names: [], text: text)
        daysOfMonth = try Self.parse(fields[2], name: "day of month", range: 1...31, names: [], text: text)
        months = try Self.parse(fields[3], name: "month", range: 1...12, names: Self.monthNames, nameBase: 1, text: text)
        let weekdays = try Self.parse(fields[4], name: "day of week", range: 0...7, names: Self.dayNames, text: text)
        daysOfWeek = Set(weekdays.map { $0 == 7 ? 0 : $0 })
        dayOfMonthRestricted = !fields[2].hasPrefix("*")
        dayOfWeekRestricted = !fields[4].hasPrefix("*")
        if !dayOfWeekRestricted, daysOfMonth.allSatisfy({ $0 > 29 }), months.allSatisfy({ month in daysOfMonth.allSatisfy { $0 > Self.maxDays(month) } }) {
            throw BackupError(.invalidPlan, "'\(text)' never runs: no month in it has day \(daysOfMonth.sorted().map(String.init).joined(separator: ","))")
        }
    }

    static func maxDays(_ month: Int) -> Int { [31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31][month - 1] }

    static func parse(_ field: String, name: String, range: ClosedRange<Int>, names: [String], nameBase: Int = 0, text: String) throws -> Set<Int> {
        func fail(_ why: String) -> BackupError {
            BackupError(.invalidPlan, "'\(text)' is not a valid cron expression: the \(name) field '\(field)' \(why)")
        }
        func value(_ token: Substring) throws -> Int {
            if let number = Int(token) {
                guard range.contains(number) else { throw fail("has \(number), outside \(range.lowerBound)-\(range.upperBound)") }
                return number
            }
            if let index = names.firstIndex(of: String(token)) { return index + nameBase }
            throw fail("has '\(token)', which is not a number\(names.isEmpty ? "" : " or a name such as \(names[0])")")
        }
        var result = Set<Int>()
        for part in field.split(separator: ",", omittingEmptySubsequences: false) {
            guard !part.isEmpty else { throw fail("has an empty list item") }
            let pieces = part.split(separator: "/", omittingEmptySubsequences: false)
            guard pieces.count <= 2 else { throw fail("has more than one '/'") }
            var step = 1
            if pieces.count == 2 {
                guard let parsed = Int(pieces[1]), parsed > 0 else { throw fail("has a step that is not a positive number") }
                step = parsed
            }
            let base = pieces[0]
            var low: Int, high: Int
            if base == "*" {
                (low, high) = (range.lowerBound, range.upperBound)
            } else if let dash = base.firstIndex(of: "-") {
                low = try value(base[..<dash])
                high = try value(base[base.index(after: dash)...])
                guard low <= high else { throw fail("has a range that runs backwards") }
            } else {
                low = try value(base)
                high = pieces.count == 2 ? range.upperBound : low
            }
            result.formUnion(stride(from: low, through: high, by: step))
        }
        return result
    }

    /// Whether a calendar day runs (in the schedule's time zone): month, then day of month and/or day of week.
    func matches(year: Int, month: Int, day: Int, weekday: Int) -> Bool {
        guard months.contains(month) else { return false }
        switch (dayOfMonthRestricted, dayOfWeekRestricted) {
        case (true, true): return daysOfMonth.contains(day) || daysOfWeek.contains(weekday)
        case (true, false): return daysOfMonth.contains(day)
        case (false, true): return daysOfWeek.contains(weekday)
        case (false, false): return true
        }
    }
}
