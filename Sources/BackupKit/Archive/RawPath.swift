import Glibc

/// A path as the bytes the file system gave, `/`-separated. Nearly every name is UTF-8, but Linux file
/// names are any bytes but `/` and NUL: a name written by a Latin-1 program (`caf\xE9.txt`) is kept
/// byte for byte rather than decoded, so an archive stores it and a restore writes it back unchanged.
///
/// ``description`` is the path for messages: its text when it is UTF-8, and otherwise each byte that is
/// not part of a UTF-8 character as `\xHH`. ``string`` is the text only when the path is UTF-8.
public struct RawPath: Sendable, Hashable, ExpressibleByStringLiteral, CustomStringConvertible {
    public var bytes: [UInt8]

    public init(bytes: [UInt8]) { self.bytes = bytes }

    public init(_ text: String) { bytes = Array(text.utf8) }

    public init(stringLiteral text: String) { self.init(text) }

    /// The bytes of a NUL-terminated C string, as they are.
    public init(cString: UnsafePointer<CChar>) {
        bytes = Array(UnsafeRawBufferPointer(start: cString, count: strlen(cString)))
    }

    /// The path as text, or nil when its bytes are not UTF-8.
    public var string: String? { String(validating: bytes, as: UTF8.self) }

    public var isEmpty: Bool { bytes.isEmpty }

    public var description: String {
        if let string { return string }
        var text = ""
        var parser = Unicode.UTF8.ForwardParser()
        var iterator = bytes.makeIterator()
        var offset = 0
        while true {
            switch parser.parseScalar(from: &iterator) {
            case .valid(let encoded):
                text.unicodeScalars.append(Unicode.UTF8.decode(encoded))
                offset += encoded.count
            case .error(let length):
                for byte in bytes[offset..<offset + length] { text += "\\x" + hexDigits(byte) }
                offset += length
            case .emptyInput:
                return text
            }
        }
    }

    /// `self/name`; just `name` when `self` is empty, and no second `/` when `self` ends in one.
    public func appending(_ name: RawPath) -> RawPath {
        if bytes.isEmpty { return name }
        return RawPath(bytes: bytes.last == Self.slash ? bytes + name.bytes : bytes + [Self.slash] + name.bytes)
    }

    /// The `/`-separated components, without empty ones.
    public var components: [RawPath] {
        bytes.split(separator: Self.slash, omittingEmptySubsequences: true).map { RawPath(bytes: Array($0)) }
    }

    /// The path as a NUL-terminated C string, for system calls.
    public func withCString<T>(_ body: (UnsafePointer<CChar>) throws -> T) rethrows -> T {
        try (bytes + [0]).withUnsafeBufferPointer { buffer in
            try buffer.withMemoryRebound(to: CChar.self) { try body($0.baseAddress!) }
        }
    }

    /// The path for an error or a warning, escaped and shortened (see `String.shortenedForMessage`).
    package var shortenedForMessage: String { description.shortenedForMessage }

    static let slash = UInt8(ascii: "/")
}

private func hexDigits(_ byte: UInt8) -> String {
    let digits = Array("0123456789ABCDEF")
    return String([digits[Int(byte >> 4)], digits[Int(byte & 0xF)]])
}
