import Crypto

/// The size and SHA-256 of a file's bytes, as recorded in a manifest.
public struct FileDigest: Sendable, Hashable, Codable {
    public var size: Int64
    /// Lower-case hex.
    public var sha256: String

    public init(size: Int64, sha256: String) {
        self.size = size
        self.sha256 = sha256
    }
}

/// Counts and hashes bytes as they pass, so a file never has to be read again to learn its digest.
package struct DigestAccumulator: Sendable {
    private var hasher = SHA256()
    public private(set) var count: Int64 = 0

    public init() {}

    public mutating func update(_ bytes: UnsafeRawBufferPointer) {
        hasher.update(bufferPointer: bytes)
        count += Int64(bytes.count)
    }

    public func finalize() -> FileDigest {
        FileDigest(size: count, sha256: hasher.finalize().hexString)
    }
}

extension Sequence<UInt8> {
    /// Lower-case hex, two digits a byte.
    package var hexString: String {
        let digits = Array("0123456789abcdef".utf8)
        var out = [UInt8]()
        for byte in self {
            out.append(digits[Int(byte >> 4)])
            out.append(digits[Int(byte & 0x0f)])
        }
        return String(decoding: out, as: UTF8.self)
    }
}

extension FileDigest {
    /// Reads the file at `path` to its end and returns its size and SHA-256. Blocking.
    package static func of(_ bytes: [UInt8]) -> FileDigest {
        var accumulator = DigestAccumulator()
        bytes.withUnsafeBytes { accumulator.update($0) }
        return accumulator.finalize()
    }

    package static func of(path: String) throws -> FileDigest {
        let file = try FileReader(path: path, computeDigest: true)
        try file.forEachChunk { _ in }
        return file.digest!.finalize()
    }
}
