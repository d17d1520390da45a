import Foundation

/// Which set a command means, as people type it after `--set`: `latest`, an exact set timestamp
/// (`20241130_020000`), or a moment (the newest good set taken at or before it). Dates and times
/// without a zone are in the plan's time zone.
///
/// | written | means |
/// | --- | --- |
/// | `latest` | the newest good set |
/// | `20241130_020000` | exactly that set (UTC, as in file names) |
/// | `20241130`, `2024-11-30` | the newest set taken on that day or before (the day's end) |
/// | `2024-11-30T02:00`, `2024-11-30 02:00:30` | the newest set taken at or before that minute/second |
/// | `2024-11-30T02:00Z`, `2024-11-30T03:00+01:00` | the same, at that instant |
/// | `today`, `now` | the newest set taken up to now |
/// | `yesterday` | the newest set taken yesterday or before |
/// | `2 days ago`, `3 hours ago`, `90 minutes ago`, `1 week ago` | the newest set at or before that moment |
public enum SetSelector: Sendable, Hashable, CustomStringConvertible {
    case latest
    case exact(SetTimestamp)
    /// The newest good set taken at or before this moment; `written` is what the user typed, `zone` the
    /// zone it was read in.
    case atOrBefore(Date, written: String, zone: TimeZone)

    public var description: String {
        switch self {
        case .latest: "latest"
        case .exact(let timestamp): timestamp.description
        case .atOrBefore(let date, let written, let zone):
            "\(written) (the newest set at or before \(date.iso8601(in: zone)))"
        }
    }

    /// Parses what `--set` was given, with dates in `timeZone` and relative times from `now`.
    public init(parsing text: String, timeZone: TimeZone, now: Date = Date()) throws {
        let written = text.trimmingCharacters(in: .whitespaces)
        let lowered = written.lowercased()
        var calendar = Calendar(identifier: .gregorian)
        calendar.timeZone = timeZone
        func endOfDay(_ day: Date) -> Date {
            calendar.date(byAdding: DateComponents(day: 1, second: -1), to: calendar.startOfDay(for: day))!
        }
        if lowered == "latest" {
            self = .latest
        } else if let timestamp = SetTimestamp(written) {
            self = .exact(timestamp)
        } else if lowered == "now" || lowered == "today" {
            self = .atOrBefore(now, written: written, zone: timeZone)
        } else if lowered == "yesterday" {
            self = .atOrBefore(endOfDay(calendar.date(byAdding: .day, value: -1, to: now)!), written: written, zone: timeZone)
        } else if let ago = Self.relative(lowered) {
            self = .atOrBefore(now.addingTimeInterval(-ago), written: written, zone: timeZone)
        } else if let moment = Self.moment(written, calendar: calendar) {
            self = .atOrBefore(moment.dayOnly ? endOfDay(moment.date) : moment.date, written: written, zone: timeZone)
        } else {
            throw BackupError(.usage, """
                --set \(written): not a set; write latest, a set timestamp (20241130_020000, as `backupctl list` shows), \
                a day (2024-11-30 or 20241130), a time (2024-11-30T02:00, in \(timeZone.identifier)), yesterday, or '2 days ago'
                """)
        }
    }

    /// `N unit(s) ago`, in seconds.
    static func relative(_ text: String) -> Double? {
        let words = text.split(separator: " ")
        guard words.count == 3, words[2] == "ago", let count = Double(words[0]), count >= 0 else { return nil }
        let unit = words[1].hasSuffix("s") ? words[1].dropLast() : words[1]
        let seconds: Double? = switch unit {
        case "second", "sec": 1
        case "minute", "min": 60
        case "hour": 3600
        case "day": 86400
        case "week": 7 * 86400
        default: nil
        }
        return seconds.map { $0 * count }
    }

    /// A day (`2024-11-30`, `20241130`) or a time (`2024-11-30T02:00[:SS][zone]`, a space for the T).
    static func moment(_ text: String, calendar: Calendar) -> (date: Date, dayOnly: Bool)? {
        let pattern = /^(\d{4})-?(\d{2})-?(\d{2})(?:[T ](\d{2}):(\d{2})(?::(\d{2}))?(Z|[+-]\d{2}:?\d{2})?)?$/
        guard let match = text.wholeMatch(of: pattern) else { return nil }
        var components = DateComponents(year: Int(match.1), month: Int(match.2), day: Int(match.3),
                                        hour: match.4.flatMap { Int($0) } ?? 0, minute: match.5.flatMap { Int($0) } ?? 0,
                                        second: match.6.flatMap { Int($0) } ?? 0)
        var calendar = calendar
        if let zone = match.7 {
            if zone == "Z" {
                calendar.timeZone = TimeZone(identifier: "UTC")!
            } else {
                let digits = zone.dropFirst().filter(\.isNumber)
                let seconds = (Int(digits.prefix(2))! * 60 + Int(digits.suffix(2))!) * 60
                calendar.timeZone = TimeZone(secondsFromGMT: zone.hasPrefix("-") ? -seconds : seconds)!
            }
        }
        components.calendar = calendar
        components.timeZone = calendar.timeZone
        guard components.isValidDate, let date = calendar.date(from: components) else { return nil }
        return (date, match.4 == nil)
    }
}

extension SetCatalog {
    /// The set `selector` means in this sink, among the good sets that hold every source in `sources`
    /// (all of them when empty), so that a partial set (`run --only config`) never stands in for a
    /// full one. A set dated in the future is never good, so never chosen for `latest` or a moment.
    public func entry(for selector: SetSelector, holding sources: [String]) -> Entry? {
        let candidates = sets.filter { entry in entry.isGood && sources.allSatisfy { entry.holds(source: $0) } }
        switch selector {
        case .latest: return candidates.last
        case .exact(let timestamp): return set(timestamp)
        case .atOrBefore(let date, _, _): return candidates.last { $0.timestamp.date <= date }
        }
    }
}

extension Date {
    /// `2024-11-30T03:00:00+01:00`: this moment in `zone`, with its offset.
    package func iso8601(in zone: TimeZone) -> String {
        let formatter = ISO8601DateFormatter()
        formatter.timeZone = zone
        return formatter.string(from: self)
    }
}
