import Foundation

/// One line of an incremental set's index (docs/incremental-sets.md): a path below the source's root
/// with its metadata and, for a file, the SHA-256 of its content and the pack entry that holds it.
public struct IndexRecord: Sendable, Hashable {
    public enum Kind: String, Sendable, Hashable {
        case file = "f"
        case directory = "d"
        case symlink = "l"
        /// Another name of a file recorded earlier in the same index (``linkTarget``).
        case hardlink = "h"
    }

    public var path: RawPath
    public var kind: Kind
    public var mode: UInt32
    public var userID: UInt32
    public var groupID: UInt32
    public var size: Int64
    public var modified: FileTime
    /// The inode's change time: a signal of change only (chmod, chown, a rewrite that kept the mtime).
    public var changed: FileTime
    /// The inode number: a signal of change only (a file replaced by another of the same size and mtime).
    public var inode: UInt64
    /// A symlink's target, or a hard link's earlier path.
    public var linkTarget: RawPath?
    /// The content's SHA-256 (lower-case hex), for files.
    public var hash: String?
    /// The pack that holds the content (its key in the sinks), for files.
    public var pack: String?
    /// The entry of ``pack`` that holds the content; today always ``hash``.
    public var entry: String?
    /// An object's ETag and version id: signals of change only (a multipart or encrypted object's ETag
    /// is no checksum of its content).
    public var etag: String?
    public var versionID: String?
    /// Metadata kept with the entry, such as an object's content type (``ArchiveEntry/attributes``).
    public var attributes: [String: String] = [:]

    public init(path: RawPath, kind: Kind, mode: UInt32 = 0o644, userID: UInt32 = 0, groupID: UInt32 = 0, size: Int64 = 0,
                modified: FileTime = FileTime(seconds: 0), changed: FileTime = FileTime(seconds: 0), inode: UInt64 = 0,
                linkTarget: RawPath? = nil, hash: String? = nil, pack: String? = nil, entry: String? = nil) {
        self.path = path
        self.kind = kind
        self.mode = mode
        self.userID = userID
        self.groupID = groupID
        self.size = size
        self.modified = modified
        self.changed = changed
        self.inode = inode
        self.linkTarget = linkTarget
        self.hash = hash
        self.pack = pack
        self.entry = entry
    }

    /// Whether this file's content may be taken unread from `previous` (this path in the previous set):
    /// both are files with the same size, mtime, ctime and inode. These are signals of change, not a
    /// checksum; a change that keeps all four (a clock set back and an inode reused) is not seen.
    public func hasSameContentSignals(as previous: IndexRecord) -> Bool {
        kind == .file && previous.kind == .file && size == previous.size && modified == previous.modified
            && changed == previous.changed && inode == previous.inode && etag == previous.etag && versionID == previous.versionID
            && previous.hash != nil
    }

    /// The entry a tree restore writes for this record (a file's content comes from its pack).
    public var archiveEntry: ArchiveEntry {
        let entryKind: ArchiveEntry.Kind = switch kind {
        case .file: .file
        case .directory: .directory
        case .symlink: .symlink
        case .hardlink: .hardlink
        }
        return ArchiveEntry(path: path, kind: entryKind, size: kind == .file ? size : 0, permissions: mode, userID: userID, groupID: groupID,
                            modificationTime: modified, linkTarget: linkTarget, attributes: attributes)
    }

    /// The record as one JSON line, without the newline.
    public func encodedLine() -> [UInt8] {
        var line = JSONLine()
        line.path("p", path)
        line.string("t", kind.rawValue)
        line.number("m", Int64(mode))
        line.number("u", Int64(userID))
        line.number("g", Int64(groupID))
        line.number("s", size)
        line.string("mt", Self.timeText(modified))
        line.string("ct", Self.timeText(changed))
        line.number("ino", Int64(bitPattern: inode))
        if let linkTarget { line.path("lt", linkTarget) }
        if let hash { line.string("h", hash) }
        if let pack { line.string("k", pack) }
        if let entry { line.string("e", entry) }
        if let etag { line.string("etag", etag) }
        if let versionID { line.string("vid", versionID) }
        for (name, value) in attributes.sorted(by: { $0.key < $1.key }) { line.string(Self.attributePrefix + name, value) }
        return line.finished()
    }

    /// Reads a record line; throws when it is not one (the message says what is wrong, not where).
    public init(line: ArraySlice<UInt8>) throws {
        let fields = try FlatJSON.parse(line)
        func text(_ key: String) -> String? { if case .string(let value)? = fields[key] { value } else { nil } }
        func number(_ key: String) -> Int64? { if case .number(let value)? = fields[key] { value } else { nil } }
        func rawPath(_ key: String) throws -> RawPath? {
            if let value = text(key) { return RawPath(value) }
            if let encoded = text(key + "b") {
                guard let bytes = Data(base64Encoded: encoded) else { throw FlatJSON.Failure(message: "'\(key)b' is not base64") }
                return RawPath(bytes: Array(bytes))
            }
            return nil
        }
        guard let path = try rawPath("p") else { throw FlatJSON.Failure(message: "no path ('p')") }
        guard let kind = text("t").flatMap(Kind.init(rawValue:)) else { throw FlatJSON.Failure(message: "no known kind ('t')") }
        guard let modified = text("mt").flatMap(Self.time), let changed = text("ct").flatMap(Self.time) else {
            throw FlatJSON.Failure(message: "no times ('mt', 'ct')")
        }
        self.init(path: path, kind: kind, mode: UInt32(truncatingIfNeeded: number("m") ?? 0o644),
                  userID: UInt32(truncatingIfNeeded: number("u") ?? 0), groupID: UInt32(truncatingIfNeeded: number("g") ?? 0),
                  size: number("s") ?? 0, modified: modified, changed: changed, inode: UInt64(bitPattern: number("ino") ?? 0),
                  linkTarget: try rawPath("lt"), hash: text("h"), pack: text("k"), entry: text("e"))
        etag = text("etag")
        versionID = text("vid")
        for (key, value) in fields where key.hasPrefix(Self.attributePrefix) {
            if case .string(let text) = value { attributes[String(key.dropFirst(Self.attributePrefix.count))] = text }
        }
        if kind == .file {
            guard let hash, hash.utf8.count == 64, hash.utf8.allSatisfy({ Self.isHexDigit($0) }), pack != nil, entry != nil else {
                throw FlatJSON.Failure(message: "a file without its content's hash, pack and entry ('h', 'k', 'e')")
            }
        }
        if kind == .symlink || kind == .hardlink, linkTarget == nil {
            throw FlatJSON.Failure(message: "a link without its target ('lt')")
        }
    }

    /// Attributes are fields named `x:<name>`.
    static let attributePrefix = "x:"

    static func isHexDigit(_ byte: UInt8) -> Bool {
        (byte >= 48 && byte <= 57) || (byte >= 97 && byte <= 102)
    }

    /// `seconds.nanoseconds`, nine digits after the point.
    static func timeText(_ time: FileTime) -> String {
        let fraction = String(time.nanoseconds)
        return "\(time.seconds)." + String(repeating: "0", count: max(0, 9 - fraction.count)) + fraction
    }

    static func time(_ text: String) -> FileTime? {
        let parts = text.split(separator: ".", maxSplits: 1, omittingEmptySubsequences: false)
        guard let seconds = Int64(parts[0]) else { return nil }
        guard parts.count == 2 else { return FileTime(seconds: seconds) }
        let digits = parts[1].prefix(9)
        guard !digits.isEmpty, let value = Int32(digits) else { return nil }
        var nanoseconds = value
        for _ in digits.count..<9 { nanoseconds *= 10 }
        return FileTime(seconds: seconds, nanoseconds: nanoseconds)
    }
}

/// Builds one flat JSON object, field by field, as UTF-8 bytes.
struct JSONLine {
    private var bytes: [UInt8] = [UInt8(ascii: "{")]

    mutating func string(_ key: String, _ value: String) {
        separate(key)
        Self.appendQuoted(value.utf8, to: &bytes)
    }

    mutating func number(_ key: String, _ value: Int64) {
        separate(key)
        bytes += Array(String(value).utf8)
    }

    mutating func bool(_ key: String, _ value: Bool) {
        separate(key)
        bytes += Array((value ? "true" : "false").utf8)
    }

    /// A path: as text under `key` when it is UTF-8, else as base64 under `key` + "b".
    mutating func path(_ key: String, _ value: RawPath) {
        if let text = value.string {
            string(key, text)
        } else {
            string(key + "b", Data(value.bytes).base64EncodedString())
        }
    }

    func finished() -> [UInt8] { bytes + [UInt8(ascii: "}")] }

    private mutating func separate(_ key: String) {
        if bytes.count > 1 { bytes.append(UInt8(ascii: ",")) }
        Self.appendQuoted(key.utf8, to: &bytes)
        bytes.append(UInt8(ascii: ":"))
    }

    static func appendQuoted(_ text: some Sequence<UInt8>, to bytes: inout [UInt8]) {
        let hex = Array("0123456789abcdef".utf8)
        bytes.append(UInt8(ascii: "\""))
        for byte in text {
            switch byte {
            case UInt8(ascii: "\""): bytes += [UInt8(ascii: "\\"), UInt8(ascii: "\"")]
            case UInt8(ascii: "\\"): bytes += [UInt8(ascii: "\\"), UInt8(ascii: "\\")]
            case 0..<0x20: bytes += Array("\\u00".utf8) + [hex[Int(byte >> 4)], hex[Int(byte & 15)]]
            default: bytes.append(byte)
            }
        }
        bytes.append(UInt8(ascii: "\""))
    }
}

/// A reader of the flat JSON objects index lines are: string, integer, boolean and null values only,
/// one level deep. It is fast because it needs no more; anything else is an error.
enum FlatJSON {
    enum Value: Sendable, Hashable {
        case string(String)
        case number(Int64)
        case bool(Bool)
        case null
    }

    struct Failure: Error, CustomStringConvertible {
        var message: String
        var description: String { message }
    }

    static func parse(_ line: ArraySlice<UInt8>) throws -> [String: Value] {
        var parser = Parser(bytes: line)
        return try parser.object()
    }

    private struct Parser {
        let bytes: ArraySlice<UInt8>
        var index: Int

        init(bytes: ArraySlice<UInt8>) {
            self.bytes = bytes
            index = bytes.startIndex
        }

        mutating func object() throws -> [String: Value] {
            skipSpace()
            try expect(UInt8(ascii: "{"))
            var fields: [String: Value] = [:]
            skipSpace()
            if peek() == UInt8(ascii: "}") {
                index += 1
            } else {
                while true {
                    skipSpace()
                    let key = try string()
                    skipSpace()
                    try expect(UInt8(ascii: ":"))
                    skipSpace()
                    fields[key] = try value()
                    skipSpace()
                    let next = try take()
                    if next == UInt8(ascii: "}") { break }
                    guard next == UInt8(ascii: ",") else { throw Failure(message: "expected ',' or '}'") }
                }
            }
            skipSpace()
            guard index == bytes.endIndex else { throw Failure(message: "text after the object") }
            return fields
        }

        mutating func value() throws -> Value {
            switch peek() {
            case UInt8(ascii: "\""): return .string(try string())
            case UInt8(ascii: "t"): try literal("true"); return .bool(true)
            case UInt8(ascii: "f"): try literal("false"); return .bool(false)
            case UInt8(ascii: "n"): try literal("null"); return .null
            default: return .number(try number())
            }
        }

        mutating func number() throws -> Int64 {
            var negative = false
            if peek() == UInt8(ascii: "-") { negative = true; index += 1 }
            var value: Int64 = 0
            var digits = 0
            while let byte = peek(), byte >= 48, byte <= 57 {
                let (times, overflow1) = value.multipliedReportingOverflow(by: 10)
                let (sum, overflow2) = times.addingReportingOverflow(Int64(byte - 48))
                guard !overflow1, !overflow2 else { throw Failure(message: "a number out of range") }
                value = sum
                digits += 1
                index += 1
            }
            guard digits > 0 else { throw Failure(message: "expected a value") }
            if let byte = peek(), byte == UInt8(ascii: ".") || byte == UInt8(ascii: "e") || byte == UInt8(ascii: "E") {
                throw Failure(message: "a number that is not an integer")
            }
            return negative ? -value : value
        }

        mutating func string() throws -> String {
            try expect(UInt8(ascii: "\""))
            let start = index
            // The common case: no escapes.
            while let byte = peek(), byte != UInt8(ascii: "\""), byte != UInt8(ascii: "\\") {
                guard byte >= 0x20 else { throw Failure(message: "a control character in a string") }
                index += 1
            }
            var out = Array(bytes[start..<index])
            while true {
                let byte = try take()
                if byte == UInt8(ascii: "\"") { break }
                if byte != UInt8(ascii: "\\") {
                    guard byte >= 0x20 else { throw Failure(message: "a control character in a string") }
                    out.append(byte)
                    continue
                }
                switch try take() {
                case UInt8(ascii: "\""): out.append(UInt8(ascii: "\""))
                case UInt8(ascii: "\\"): out.append(UInt8(ascii: "\\"))
                case UInt8(ascii: "/"): out.append(UInt8(ascii: "/"))
                case UInt8(ascii: "b"): out.append(8)
                case UInt8(ascii: "f"): out.append(12)
                case UInt8(ascii: "n"): out.append(10)
                case UInt8(ascii: "r"): out.append(13)
                case UInt8(ascii: "t"): out.append(9)
                case UInt8(ascii: "u"):
                    var scalar = try hex4()
                    if (0xD800..<0xDC00).contains(scalar) {
                        guard try take() == UInt8(ascii: "\\"), try take() == UInt8(ascii: "u") else { throw Failure(message: "a lone surrogate") }
                        let low = try hex4()
                        guard (0xDC00..<0xE000).contains(low) else { throw Failure(message: "a lone surrogate") }
                        scalar = 0x10000 + ((scalar - 0xD800) << 10) + (low - 0xDC00)
                    }
                    guard let unicode = Unicode.Scalar(scalar) else { throw Failure(message: "an invalid \\u escape") }
                    out += Array(String(Character(unicode)).utf8)
                default: throw Failure(message: "an invalid escape")
                }
            }
            guard let text = String(validating: out, as: UTF8.self) else { throw Failure(message: "a string that is not UTF-8") }
            return text
        }

        mutating func hex4() throws -> UInt32 {
            var value: UInt32 = 0
            for _ in 0..<4 {
                let byte = try take()
                let digit: UInt32 = switch byte {
                case 48...57: UInt32(byte - 48)
                case 97...102: UInt32(byte - 87)
                case 65...70: UInt32(byte - 55)
                default: throw Failure(message: "an invalid \\u escape")
                }
                value = value << 4 | digit
            }
            return value
        }

        mutating func literal(_ word: String) throws {
            for byte in word.utf8 {
                guard try take() == byte else { throw Failure(message: "expected \(word)") }
            }
        }

        func peek() -> UInt8? { index < bytes.endIndex ? bytes[index] : nil }

        mutating func take() throws -> UInt8 {
            guard index < bytes.endIndex else { throw Failure(message: "the line ends early") }
            defer { index += 1 }
            return bytes[index]
        }

        mutating func expect(_ byte: UInt8) throws {
            guard try take() == byte else { throw Failure(message: "expected '\(Character(Unicode.Scalar(byte)))'") }
        }

        mutating func skipSpace() {
            while let byte = peek(), byte == 32 || byte == 9 || byte == 13 { index += 1 }
        }
    }
}
