import Foundation
import Glibc

/// When a backup set was taken, to the second, in UTC: the `20241130_020000` in every artifact name.
public struct SetTimestamp: Sendable, Hashable, Comparable, Codable, CustomStringConvertible {
    /// Seconds since 1970, UTC.
    public var secondsSince1970: Int64

    public init(_ date: Date) {
        secondsSince1970 = Int64(date.timeIntervalSince1970.rounded(.down))
    }

    public init(secondsSince1970: Int64) {
        self.secondsSince1970 = secondsSince1970
    }

    /// Parses `YYYYMMDD_HHMMSS`.
    public init?(_ text: String) {
        let digits = Array(text.utf8)
        guard digits.count == 15, digits[8] == UInt8(ascii: "_"),
              digits.enumerated().allSatisfy({ $0.offset == 8 || (48...57).contains($0.element) }) else { return nil }
        func number(_ range: Range<Int>) -> Int32 { Int32(String(decoding: digits[range], as: UTF8.self))! }
        var parts = tm()
        parts.tm_year = number(0..<4) - 1900
        parts.tm_mon = number(4..<6) - 1
        parts.tm_mday = number(6..<8)
        parts.tm_hour = number(9..<11)
        parts.tm_min = number(11..<13)
        parts.tm_sec = number(13..<15)
        let seconds = timegm(&parts)
        self.init(secondsSince1970: Int64(seconds))
        guard description == text else { return nil }
    }

    public var date: Date { Date(timeIntervalSince1970: TimeInterval(secondsSince1970)) }

    /// Calendar fields in UTC.
    public var utc: (year: Int, month: Int, day: Int, hour: Int, minute: Int, second: Int, weekday: Int, dayOfYear: Int) {
        var time = time_t(secondsSince1970)
        var parts = tm()
        gmtime_r(&time, &parts)
        return (Int(parts.tm_year) + 1900, Int(parts.tm_mon) + 1, Int(parts.tm_mday), Int(parts.tm_hour), Int(parts.tm_min),
                Int(parts.tm_sec), Int(parts.tm_wday), Int(parts.tm_yday))
    }

    public var description: String {
        let t = utc
        func pad(_ value: Int, _ width: Int) -> String {
            let text = String(value)
            return String(repeating: "0", count: max(0, width - text.count)) + text
        }
        return "\(pad(t.year, 4))\(pad(t.month, 2))\(pad(t.day, 2))_\(pad(t.hour, 2))\(pad(t.minute, 2))\(pad(t.second, 2))"
    }

    /// ISO 8601, for people: `2024-11-30T02:00:00Z`.
    public var iso8601: String {
        let text = description
        let d = Array(text)
        return "\(String(d[0..<4]))-\(String(d[4..<6]))-\(String(d[6..<8]))T\(String(d[9..<11])):\(String(d[11..<13])):\(String(d[13..<15]))Z"
    }

    public static func < (lhs: SetTimestamp, rhs: SetTimestamp) -> Bool { lhs.secondsSince1970 < rhs.secondsSince1970 }

    public init(from decoder: any Decoder) throws {
        let text = try decoder.singleValueContainer().decode(String.self)
        guard let value = SetTimestamp(text) else {
            throw DecodingError.dataCorrupted(.init(codingPath: decoder.codingPath, debugDescription: "'\(text)' is not a YYYYMMDD_HHMMSS timestamp"))
        }
        self = value
    }

    public func encode(to encoder: any Encoder) throws {
        var container = encoder.singleValueContainer()
        try container.encode(description)
    }
}
