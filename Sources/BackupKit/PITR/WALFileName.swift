/// The name of a file PostgreSQL archives: a WAL segment (`000000010000000000000003`), a timeline
/// history file (`00000002.history`), a backup history file (`000000010000000000000003.00000028.backup`)
/// or a partial segment (`000000010000000000000003.partial`, written when a standby is promoted).
///
/// Segment names are `TTTTTTTTLLLLLLLLSSSSSSSS`: the timeline, then the segment number split in two,
/// the high part counting 4 GiB of WAL and the low part the segments within it.
public struct WALFileName: Sendable, Hashable, Comparable, CustomStringConvertible {
    public enum Kind: String, Sendable, Hashable, Codable {
        case segment
        case history
        case backupLabel = "backup"
        case partial
    }

    public let name: String
    public let kind: Kind
    public let timeline: UInt32
    /// The high and low 32 bits of the segment number's name (nil for history files).
    public let log: UInt32?
    public let segment: UInt32?

    /// Parses an archived file's name; nil when it is none of the four kinds.
    public init?(_ name: String) {
        let bytes = Array(name.utf8)
        func hex(_ range: Range<Int>) -> UInt32? {
            guard range.upperBound <= bytes.count else { return nil }
            var value: UInt32 = 0
            for byte in bytes[range] {
                guard let digit = Self.hexDigit(byte) else { return nil }
                value = value << 4 | UInt32(digit)
            }
            return value
        }
        guard let timeline = hex(0..<8), timeline > 0 else { return nil }
        self.name = name
        self.timeline = timeline
        if bytes.count == 16, name.hasSuffix(".history") {
            kind = .history
            log = nil
            segment = nil
            return
        }
        guard let log = hex(8..<16), let segment = hex(16..<24) else { return nil }
        self.log = log
        self.segment = segment
        let rest = name.dropFirst(24)
        if rest.isEmpty {
            kind = .segment
        } else if rest == ".partial" {
            kind = .partial
        } else if rest.count == 16, rest.hasSuffix(".backup"), hex(25..<33) != nil, bytes[24] == UInt8(ascii: ".") {
            kind = .backupLabel
        } else {
            return nil
        }
    }

    /// The segment number, given the segment size (16 MiB unless `initdb --wal-segsize` said otherwise).
    public func segmentNumber(segmentSize: Int64) -> UInt64? {
        guard let log, let segment else { return nil }
        return UInt64(log) * Self.segmentsPerLog(segmentSize) + UInt64(segment)
    }

    /// The name of segment `number` on `timeline`.
    public static func segment(timeline: UInt32, number: UInt64, segmentSize: Int64) -> WALFileName {
        let perLog = segmentsPerLog(segmentSize)
        return WALFileName(hex8(timeline) + hex8(UInt32(number / perLog)) + hex8(UInt32(number % perLog)))!
    }

    /// The segment that holds `lsn` on `timeline`.
    public static func segment(timeline: UInt32, containing lsn: LSN, segmentSize: Int64) -> WALFileName {
        segment(timeline: timeline, number: lsn.value / UInt64(segmentSize), segmentSize: segmentSize)
    }

    static func segmentsPerLog(_ segmentSize: Int64) -> UInt64 { 0x1_0000_0000 / UInt64(segmentSize) }

    static func hex8(_ value: UInt32) -> String {
        let text = String(value, radix: 16, uppercase: true)
        return String(repeating: "0", count: 8 - text.count) + text
    }

    private static func hexDigit(_ byte: UInt8) -> UInt8? {
        switch byte {
        case UInt8(ascii: "0")...UInt8(ascii: "9"): byte - UInt8(ascii: "0")
        case UInt8(ascii: "A")...UInt8(ascii: "F"): byte - UInt8(ascii: "A") + 10
        default: nil
        }
    }

    public var description: String { name }

    public static func < (lhs: WALFileName, rhs: WALFileName) -> Bool { lhs.name < rhs.name }
}

/// A position in the WAL, written `0/3000158` (the high and low 32 bits in hex).
public struct LSN: Sendable, Hashable, Comparable, Codable, CustomStringConvertible {
    public var value: UInt64

    public init(_ value: UInt64) { self.value = value }

    public init?(_ text: String) {
        let parts = text.split(separator: "/")
        guard parts.count == 2, let high = UInt32(parts[0], radix: 16), let low = UInt32(parts[1], radix: 16) else { return nil }
        value = UInt64(high) << 32 | UInt64(low)
    }

    public var description: String {
        String(UInt32(value >> 32), radix: 16, uppercase: true) + "/" + String(UInt32(value & 0xffff_ffff), radix: 16, uppercase: true)
    }

    public static func < (lhs: LSN, rhs: LSN) -> Bool { lhs.value < rhs.value }

    public init(from decoder: any Decoder) throws {
        let text = try decoder.singleValueContainer().decode(String.self)
        guard let lsn = LSN(text) else {
            throw DecodingError.dataCorrupted(.init(codingPath: decoder.codingPath, debugDescription: "'\(text)' is not an LSN such as 0/3000158"))
        }
        self = lsn
    }

    public func encode(to encoder: any Encoder) throws {
        var container = encoder.singleValueContainer()
        try container.encode(description)
    }
}
