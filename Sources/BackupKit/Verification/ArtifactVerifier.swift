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
        let contents = try readThrough(file, name: name, format: format, progress: progress, isCancelled: isCancelled)
        let digest = file.digest!.finalize()
        if let expected { try check(digest, against: expected, name: name) }
        try contents.checkNotEmpty(name: name, format: format)
        return IntegrityReport(digest: digest, entries: contents.entries, contentBytes: contents.contentBytes)
    }

    /// What an artifact holds, counted while it was read through.
    struct Contents {
        var entries = 0
        var contentBytes: Int64 = 0

        /// Throws when the artifact holds no entries (a tree) or no data (a stream).
        func checkNotEmpty(name: String, format: any ArchiveFormat) throws {
            if format.layout == .tree ? entries == 0 : contentBytes == 0 {
                throw BackupError(.verificationFailed, "\(name) is empty: it holds no \(format.layout == .tree ? "entries" : "data")")
            }
        }
    }

    /// Decompresses everything `file` gives and reads every entry to its end, refusing unsafe ones and
    /// any byte after the end of the compressed stream. Throws a ``BackupError/Code/verificationFailed``
    /// error that names the artifact.
    static func readThrough(_ file: any ChunkReader, name: String, format: any ArchiveFormat,
                            progress: ByteCounter? = nil, isCancelled: () -> Bool = { false }) throws -> Contents {
        var contents = Contents()
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
                    contents.entries += 1
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
                contents.contentBytes += entryBytes
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
        return contents
    }

    /// Throws when the staged file's read-back is not what was written: another size or another CRC-32.
    static func check(readBack: CRC32Accumulator, against written: CRC32Accumulator, name: String) throws {
        if readBack.count != written.count {
            throw BackupError(.verificationFailed, "\(name) read back as \(readBack.count) bytes but \(written.count) were written: the staged file was truncated or replaced")
        }
        if readBack.crc != written.crc {
            throw BackupError(.verificationFailed, "\(name) read back with CRC-32 \(String(readBack.crc, radix: 16)) but what was written has \(String(written.crc, radix: 16)): the staged file is corrupt")
        }
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
