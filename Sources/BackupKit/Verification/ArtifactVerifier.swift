/// Checks artifacts: their size against the plan's ``VerificationPolicy``, and their integrity by
/// reading every byte back: the file's SHA-256 against the manifest, full decompression (which checks
/// the gzip CRC or zstd checksums), and every tar entry read to its end.
package enum ArtifactVerifier {
    /// What reading an artifact back found.
    public struct IntegrityReport: Sendable {
        public var digest: FileDigest
        public var entries: Int
        public var contentBytes: Int64
    }

    /// Checks size rules: not empty, at least `minSize`, and not shrunk by more than allowed against the
    /// same source's artifact in the previous good set.
    public static func checkSize(artifact name: String, size: Int64, policy: VerificationPolicy, previousSize: Int64?) throws {
        if size == 0 {
            throw BackupError(.verificationFailed, "\(name) is empty (0 bytes)")
        }
        if size < policy.minSize.bytes {
            throw BackupError(.verificationFailed, "\(name) is \(formatBytes(size)), below the plan's min_size of \(policy.minSize). If that is expected, lower verify.min_size.")
        }
        if let previousSize, previousSize > 0, policy.maxShrinkPercent < 100 {
            let shrink = Double(previousSize - size) / Double(previousSize) * 100
            if shrink > policy.maxShrinkPercent {
                let rounded = (shrink * 10).rounded() / 10
                throw BackupError(.verificationFailed, "\(name) is \(formatBytes(size)), \(rounded)% smaller than the previous good set's \(formatBytes(previousSize)) (max_shrink_percent is \(policy.maxShrinkPercent)). If the data really shrank, raise verify.max_shrink_percent for this run.")
            }
        }
    }

    /// Reads the whole artifact at `path` once: hashes it, decompresses it and reads every entry,
    /// refusing unsafe ones. Throws a ``BackupError/Code/verificationFailed`` error that names the artifact.
    /// The file's bytes are added to `progress` as they are read.
    public static func checkIntegrity(path: String, name: String, format: any ArchiveFormat, expected: FileDigest?,
                                      progress: ByteCounter? = nil, isCancelled: () -> Bool = { false }) throws -> IntegrityReport {
        let file = try FileReader(path: path, computeDigest: true)
        return try checkIntegrity(of: file, digest: { file.digest!.finalize() }, name: name, format: format, expected: expected,
                                  progress: progress, isCancelled: isCancelled)
    }

    /// ``checkIntegrity(path:name:format:expected:progress:isCancelled:)`` for bytes read from `file`,
    /// whose `digest` is the size and SHA-256 of what it read once it is at its end.
    static func checkIntegrity(of file: any ChunkReader, digest finalDigest: () -> FileDigest, name: String, format: any ArchiveFormat,
                               expected: FileDigest?, progress: ByteCounter? = nil, isCancelled: () -> Bool = { false }) throws -> IntegrityReport {
        var entries = 0
        var contentBytes: Int64 = 0
        do {
            let reader = try format.makeReader(input: { buffer in
                let count = try file.read(into: buffer)
                progress?.add(count)
                return count
            })
            let buffer = UnsafeMutableRawBufferPointer.allocate(byteCount: 256 * 1024, alignment: 16)
            defer { buffer.deallocate() }
            var safety = EntrySafety()
            while let entry = try reader.nextEntry() {
                if isCancelled() { throw CancellationError() }
                if format.layout == .tree {
                    try safety.check(entry)
                    entries += 1
                }
                var entryBytes: Int64 = 0
                while true {
                    let count = try reader.read(into: buffer)
                    if count == 0 { break }
                    entryBytes += Int64(count)
                }
                if entry.kind == .file, entry.size >= 0, entryBytes != entry.size {
                    throw BackupError(.archive, "entry '\(entry.path.shortenedForMessage)' holds \(entryBytes) bytes but its header says \(entry.size)")
                }
                contentBytes += entryBytes
            }
        } catch let error as BackupError {
            throw BackupError(.verificationFailed, "\(name) failed the integrity check: \(error.message)", underlying: error)
        } catch is CancellationError {
            throw CancellationError()
        } catch {
            throw BackupError(.verificationFailed, "\(name) failed the integrity check: \(error)", underlying: error)
        }
        // The reader stops at the verified end of the compressed stream; anything after it is damage.
        let scratch = UnsafeMutableRawBufferPointer.allocate(byteCount: 4096, alignment: 16)
        defer { scratch.deallocate() }
        if try file.read(into: scratch) != 0 {
            throw BackupError(.verificationFailed, "\(name) failed the integrity check: bytes follow the end of the compressed stream")
        }
        let digest = finalDigest()
        if let expected { try check(digest, against: expected, name: name) }
        if format.layout == .tree ? entries == 0 : contentBytes == 0 {
            throw BackupError(.verificationFailed, "\(name) is empty: it holds no \(format.layout == .tree ? "entries" : "data")")
        }
        return IntegrityReport(digest: digest, entries: entries, contentBytes: contentBytes)
    }

    /// Throws when what was read back is not what was written: another size or another SHA-256.
    static func check(_ digest: FileDigest, against expected: FileDigest, name: String) throws {
        if digest.size != expected.size {
            throw BackupError(.verificationFailed, "\(name) is \(digest.size) bytes but its manifest says \(expected.size): the file was truncated or replaced")
        }
        if digest.sha256 != expected.sha256 {
            throw BackupError(.verificationFailed, "\(name) has SHA-256 \(digest.sha256) but its manifest says \(expected.sha256): the file is corrupt")
        }
    }
}
