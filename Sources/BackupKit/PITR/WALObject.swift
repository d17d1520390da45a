import Foundation

/// A WAL file as a sink stores it: zstd-compressed (with zstd's content checksum), encrypted to the
/// sink's age recipients when the sink encrypts, under a key that carries what a reader must check:
///
/// `wal_<plan>_<source>_<WAL file name>.<SHA-256 of the original>.<modification time, Unix seconds>.zst[.age]`
///
/// The SHA-256 is checked after decompression before a byte is handed to PostgreSQL. The time is when
/// PostgreSQL last wrote the file: for a history file, when its timeline began; for a segment, the
/// newest moment it can hold.
public struct ArchivedWAL: Sendable, Hashable {
    public var name: WALFileName
    public var sha256: String
    public var time: Date
    public var key: String
    public var size: Int64
    public var encrypted: Bool

    public static func prefix(plan: String, source: String) -> String { "wal_\(plan)_\(source)_" }

    public static func key(plan: String, source: String, name: WALFileName, sha256: String, time: Date, encrypted: Bool) -> String {
        // Whole seconds, rounded up: the file holds nothing written after this moment.
        prefix(plan: plan, source: source) + "\(name.name).\(sha256).\(Int64(time.timeIntervalSince1970.rounded(.up))).zst" + (encrypted ? ".age" : "")
    }

    /// Parses a listed key of this plan and source; nil for any other key.
    public init?(_ object: StoredObject, plan: String, source: String) {
        let prefix = Self.prefix(plan: plan, source: source)
        guard object.key.hasPrefix(prefix) else { return nil }
        var rest = Substring(object.key.dropFirst(prefix.count))
        encrypted = rest.hasSuffix(".age")
        if encrypted { rest = rest.dropLast(4) }
        guard rest.hasSuffix(".zst") else { return nil }
        rest = rest.dropLast(4)
        var parts = rest.split(separator: ".", omittingEmptySubsequences: false)
        guard parts.count >= 3, let seconds = Int64(parts.removeLast()) else { return nil }
        let digest = String(parts.removeLast())
        guard digest.count == 64, digest.allSatisfy({ $0.isHexDigit }), let name = WALFileName(parts.joined(separator: ".")) else { return nil }
        self.name = name
        sha256 = digest
        time = Date(timeIntervalSince1970: Double(seconds))
        key = object.key
        size = object.size
    }

    /// Compresses a WAL file for storing (zstd level 3, one frame with its checksum). A segment is at
    /// most `segment_size` (16 MiB by default), so it is compressed in memory.
    public static func compress(path: String) throws -> (compressed: [UInt8], sha256: String) {
        var output: [UInt8] = []
        let compressor = try ZstdCompressor(level: 3, threads: 1) { output.append(contentsOf: $0) }
        let reader = try FileReader(path: path, computeDigest: true)
        try reader.forEachChunk { try compressor.write($0) }
        try compressor.finish()
        return (output, reader.digest!.finalize().sha256)
    }

    /// The original bytes of a stored object: decrypted with `identities` when it is encrypted,
    /// decompressed, and checked against the SHA-256 its key names.
    public func decode(_ stored: [UInt8], identities: [AgeIdentity], sink: String) throws -> [UInt8] {
        var compressed = stored
        if encrypted {
            guard !identities.isEmpty else {
                throw BackupError(.identityNeeded, "\(name.name) in sink '\(sink)' is encrypted; give an identity (--identity FILE or BACKUP_IDENTITY_FILE) to read it")
            }
            compressed = try AgeDecryptor.decrypt(stored, identities: identities)
        }
        var offset = 0
        let decompressor = try ZstdDecompressor { buffer in
            let count = min(buffer.count, compressed.count - offset)
            compressed.withUnsafeBytes { source in
                buffer.baseAddress!.copyMemory(from: source.baseAddress! + offset, byteCount: count)
            }
            offset += count
            return count
        }
        var original: [UInt8] = []
        var digest = DigestAccumulator()
        do {
            try decompressor.forEachChunk { chunk in
                original.append(contentsOf: chunk)
                digest.update(chunk)
            }
        } catch {
            throw BackupError(.verificationFailed, "\(name.name) in sink '\(sink)' (\(key)) is damaged: \(error)")
        }
        let actual = digest.finalize().sha256
        guard actual == sha256 else {
            throw BackupError(.verificationFailed, "\(name.name) in sink '\(sink)' (\(key)) is damaged: its content's SHA-256 is \(actual.prefix(16))…, the archived file's was \(sha256.prefix(16))…")
        }
        return original
    }
}

extension ZstdDecompressor: ChunkReader {}
