import Foundation

/// When a plan runs: a cron expression read in a time zone, with an optional random delay.
///
/// Times are wall-clock times in the zone, with a defined behaviour when clocks change:
/// - **Clocks go back** (a wall-clock time happens twice): it runs once, at the first occurrence. No double run.
/// - **Clocks go forward** (a wall-clock time does not exist): it runs that day all the same, shifted
///   forward by the length of the gap (02:30 in a 02:00→03:00 gap runs at 03:30). No skipped day.
public struct CronSchedule: Sendable, Hashable, CustomStringConvertible {
    public let expression: CronExpression
    public let timeZone: TimeZone
    /// Each run starts after a random delay of up to this many seconds (0: none).
    public let jitter: Double

    public init(_ expression: CronExpression, timeZone: TimeZone = .current, jitter: Double = 0) {
        self.expression = expression
        self.timeZone = timeZone
        self.jitter = jitter
    }

    public var description: String { "\(expression) (\(timeZone.identifier))" }

    /// The first scheduled instant strictly after `date`.
    public func next(after date: Date) -> Date? {
        // Work on wall-clock time as plain seconds (as if UTC), and map each candidate back to an instant.
        var wall = Self.floorToMinute(Int64(date.timeIntervalSince1970.rounded(.down)) + Int64(timeZone.secondsFromGMT(for: date))) + 60
        let limit = wall + 8 * 366 * 86400
        while wall < limit {
            let fields = Self.fields(wall)
            if !expression.matches(year: fields.year, month: fields.month, day: fields.day, weekday: fields.weekday) {
                wall = Self.startOfDay(wall) + 86400
                continue
            }
            guard let hour = expression.hours.filter({ $0 >= fields.hour }).min() else {
                wall = Self.startOfDay(wall) + 86400
                continue
            }
            let minuteFloor = hour == fields.hour ? fields.minute : 0
            guard let minute = expression.minutes.filter({ $0 >= minuteFloor }).min() else {
                wall = Self.startOfDay(wall) + Int64(fields.hour + 1) * 3600
                continue
            }
            let candidate = Self.startOfDay(wall) + Int64(hour) * 3600 + Int64(minute) * 60
            if let instant = instant(forWallClock: candidate), instant > date {
                return instant
            }
            wall = candidate + 60
        }
        return nil
    }

    /// The instant a wall-clock time means in the zone: the earlier one when it happens twice, the time
    /// shifted forward by the gap when it does not exist.
    func instant(forWallClock wall: Int64) -> Date? {
        let offsets = Set([-86400, 0, 86400].map { timeZone.secondsFromGMT(for: Date(timeIntervalSince1970: TimeInterval(wall + Int64($0)))) })
        let valid = offsets.map { wall - Int64($0) }.filter { Int64(timeZone.secondsFromGMT(for: Date(timeIntervalSince1970: TimeInterval($0)))) == wall - $0 }
        if let earliest = valid.min() { return Date(timeIntervalSince1970: TimeInterval(earliest)) }
        // In a gap: read the wall-clock time with the offset in force before the change.
        let before = timeZone.secondsFromGMT(for: Date(timeIntervalSince1970: TimeInterval(wall - 86400)))
        return Date(timeIntervalSince1970: TimeInterval(wall - Int64(before)))
    }

    /// The next run with this schedule's jitter applied.
    public func nextWithJitter(after date: Date) -> Date? {
        next(after: date).map { $0.addingTimeInterval(jitter > 0 ? Double.random(in: 0..<jitter) : 0) }
    }

    static func floorToMinute(_ seconds: Int64) -> Int64 { seconds - ((seconds % 60) + 60) % 60 }
    static func startOfDay(_ seconds: Int64) -> Int64 { seconds - ((seconds % 86400) + 86400) % 86400 }

    static func fields(_ wall: Int64) -> (year: Int, month: Int, day: Int, hour: Int, minute: Int, weekday: Int) {
        let t = SetTimestamp(secondsSince1970: wall).utc
        return (t.year, t.month, t.day, t.hour, t.minute, t.weekday)
    }
}
