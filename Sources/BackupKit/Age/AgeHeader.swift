import Crypto
import Foundation

/// Why an age file cannot be read, in the classes of the age test vectors.
public enum AgeError: Error, Equatable, CustomStringConvertible {
    /// The header breaks the format (a bad line, stanza, argument or base64), or a recipient's rules.
    case header(String)
    /// The header's MAC does not match: the header was changed, or the file key is not the sender's.
    case hmac
    /// No identity given opens any of the header's stanzas.
    case noMatch
    /// The payload is damaged, truncated or extended after the header was read.
    case payload(String)

    public var description: String {
        switch self {
        case .header(let problem): "the age header is invalid: \(problem)"
        case .hmac: "the age header's MAC does not match: the header was changed"
        case .noMatch: "none of the identities given can open this file (it was encrypted to other recipients)"
        case .payload(let problem): "the age payload is damaged: \(problem)"
        }
    }
}

/// One recipient stanza: `-> TYPE ARG…` and a base64 body.
struct AgeStanza: Equatable {
    var arguments: [String]
    var body: [UInt8]

    var type: String { arguments.first ?? "" }
}

/// The header of an age v1 file (c2sp.org/age): its stanzas and MAC, and the exact bytes the MAC covers.
struct AgeHeader {
    static let versionLine = Array("age-encryption.org/v1\n".utf8)
    var stanzas: [AgeStanza]
    var mac: [UInt8]
    /// The header up to and including `---`, which the MAC covers.
    var macInput: [UInt8]
    /// The header's whole length, the MAC line's line feed included: where the payload starts.
    var length: Int

    /// The header for `stanzas`, MACed with `fileKey`.
    init(stanzas: [AgeStanza], fileKey: [UInt8]) {
        self.stanzas = stanzas
        var bytes = Self.versionLine
        for stanza in stanzas {
            bytes += Array(("-> " + stanza.arguments.joined(separator: " ") + "\n").utf8)
            // Whole 64-column lines, then a final shorter one (empty when the body fills its lines).
            let body = Array(AgeBase64.encode(stanza.body).utf8)
            var index = 0
            while body.count - index >= 64 {
                bytes += body[index..<index + 64] + [0x0A]
                index += 64
            }
            bytes += body[index...] + [0x0A]
        }
        bytes += Array("---".utf8)
        macInput = bytes
        mac = Self.mac(macInput, fileKey: fileKey)
        length = bytes.count + 1 + 43 + 1
    }

    /// The header's bytes.
    var encoded: [UInt8] { macInput + Array((" " + AgeBase64.encode(mac) + "\n").utf8) }

    static func mac(_ input: [UInt8], fileKey: [UInt8]) -> [UInt8] {
        let key = HKDF<SHA256>.deriveKey(inputKeyMaterial: SymmetricKey(data: fileKey), info: Array("header".utf8), outputByteCount: 32)
        return Array(HMAC<SHA256>.authenticationCode(for: input, using: key))
    }

    func verifyMAC(fileKey: [UInt8]) throws {
        let key = HKDF<SHA256>.deriveKey(inputKeyMaterial: SymmetricKey(data: fileKey), info: Array("header".utf8), outputByteCount: 32)
        guard HMAC<SHA256>.isValidAuthenticationCode(mac, authenticating: macInput, using: key) else { throw AgeError.hmac }
    }

    /// The largest header read: a few stanzas take a few hundred bytes.
    static let maximumLength = 1 << 20

    /// Where the header at the start of `bytes` ends: just after the line feed of the line that starts
    /// with `---` (the MAC line); nil while that line is not whole. Nothing else is checked.
    static func end(in bytes: [UInt8]) -> Int? {
        var index = 0
        while let newline = bytes[index...].firstIndex(of: 0x0A) {
            let next = newline + 1
            if bytes.count >= next + 3, bytes[next] == 0x2D, bytes[next + 1] == 0x2D, bytes[next + 2] == 0x2D {
                return bytes[next...].firstIndex(of: 0x0A).map { $0 + 1 }
            }
            index = next
        }
        return nil
    }

    /// Parses the header at the start of `bytes`; throws ``AgeError/header(_:)`` when it is not one, or
    /// when `bytes` ends before the header does.
    init(parsing bytes: [UInt8]) throws {
        var lines = AgeLineReader(bytes: bytes)
        guard let version = lines.next() else { throw AgeError.header("the file is empty or has no version line") }
        guard Array(version) == Array(Self.versionLine.dropLast()) else {
            if version.starts(with: Array("age-encryption.org/".utf8)) { throw AgeError.header("unsupported version '\(String(decoding: version, as: UTF8.self).shortenedForMessage)'") }
            throw AgeError.header("not an age file (no age-encryption.org/v1 line)")
        }
        var stanzas: [AgeStanza] = []
        while true {
            guard let line = lines.next() else { throw AgeError.header("the header ends before its MAC line") }
            if line.starts(with: Array("-> ".utf8)) {
                let arguments = line.dropFirst(3).split(separator: 0x20, omittingEmptySubsequences: false)
                guard !arguments.isEmpty, arguments.allSatisfy({ !$0.isEmpty && $0.allSatisfy { (0x21...0x7E).contains($0) } }) else {
                    throw AgeError.header("stanza \(stanzas.count + 1) has an empty or invalid argument")
                }
                var body = ""
                while true {
                    guard let bodyLine = lines.next() else { throw AgeError.header("stanza \(stanzas.count + 1) has no final body line") }
                    guard bodyLine.count <= 64, bodyLine.allSatisfy(AgeBase64.isCharacter) else {
                        throw AgeError.header("stanza \(stanzas.count + 1) has a body line that is not base64 of at most 64 columns")
                    }
                    body += String(decoding: bodyLine, as: UTF8.self)
                    if bodyLine.count < 64 { break }
                }
                guard let decoded = AgeBase64.decode(body) else { throw AgeError.header("stanza \(stanzas.count + 1) has a body that is not canonical base64") }
                stanzas.append(AgeStanza(arguments: arguments.map { String(decoding: $0, as: UTF8.self) }, body: decoded))
            } else if line.starts(with: Array("---".utf8)) {
                guard !stanzas.isEmpty else { throw AgeError.header("the header has no recipient stanza") }
                guard line.count == 3 + 1 + 43, line[line.startIndex + 3] == 0x20, let mac = AgeBase64.decode(String(decoding: line.dropFirst(4), as: UTF8.self)), mac.count == 32 else {
                    throw AgeError.header("the MAC line is not '--- ' and 43 base64 characters")
                }
                self.stanzas = stanzas
                self.mac = mac
                macInput = Array(bytes[..<(lines.offset - line.count + 2)])
                length = lines.offset
                return
            } else {
                throw AgeError.header("a header line starts with neither '->' nor '---'")
            }
        }
    }
}

/// Lines ended by LF, at most ``AgeHeader/maximumLength`` bytes in all.
struct AgeLineReader {
    let bytes: [UInt8]
    /// Where the next line starts.
    private(set) var offset = 0

    init(bytes: [UInt8]) { self.bytes = bytes }

    /// The next line without its LF, or nil when no LF ends it.
    mutating func next() -> ArraySlice<UInt8>? {
        guard offset < bytes.count, offset < AgeHeader.maximumLength,
              let end = bytes[offset...].firstIndex(of: 0x0A) else { return nil }
        let line = bytes[offset..<end]
        offset = end + 1
        return line
    }
}

/// The unpadded, canonical base64 of age headers.
enum AgeBase64 {
    static func isCharacter(_ byte: UInt8) -> Bool {
        (0x41...0x5A).contains(byte) || (0x61...0x7A).contains(byte) || (0x30...0x39).contains(byte) || byte == 0x2B || byte == 0x2F
    }

    static func encode(_ bytes: [UInt8]) -> String {
        var text = Data(bytes).base64EncodedString()
        while text.hasSuffix("=") { text.removeLast() }
        return text
    }

    /// The bytes of unpadded base64 text, or nil when it is not canonical (padding, bits left over).
    static func decode(_ text: String) -> [UInt8]? {
        guard text.utf8.allSatisfy(isCharacter), text.utf8.count % 4 != 1 else { return nil }
        let padded = text + String(repeating: "=", count: (4 - text.utf8.count % 4) % 4)
        guard let data = Data(base64Encoded: padded) else { return nil }
        let bytes = [UInt8](data)
        return encode(bytes) == text ? bytes : nil
    }
}
