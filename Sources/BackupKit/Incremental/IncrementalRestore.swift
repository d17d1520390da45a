import Crypto
import Glibc

/// What restoring an incremental set takes: its index, read in order, and the blobs of the packs that
/// hold the selected files, taken out of their packs into a scratch directory; then every entry is
/// written through the same extractor as a tar restore (``TreeRestore``), with its protections.
enum IncrementalRestore {
    /// What the records of `index` selected by `paths` (all when empty) need: their packs, the bytes
    /// of their files, and the number of entries.
    static func plan(index: IncrementalSession.PreviousIndex, paths: [GlobPattern], isCancelled: () -> Bool) throws
        -> (packs: Set<String>, bytes: Int64, entries: Int) {
        let reader = try IncrementalWriter.openIndex(index)
        var packs = Set<String>()
        var bytes: Int64 = 0
        var entries = 0
        while let record = try reader.next() {
            if isCancelled() { throw CancellationError() }
            if !paths.isEmpty, !paths.contains(where: { $0.selects(record.path, isDirectory: record.kind == .directory) }) { continue }
            entries += 1
            if record.kind == .file, let pack = record.pack {
                packs.insert(pack)
                bytes += record.size
            }
        }
        return (packs, bytes, entries)
    }

    /// Writes every blob of the pack at `path` into `directory` as a file named by its hash, checking
    /// each blob's content against its name.
    static func extractBlobs(pack path: String, key: String, format: any ArchiveFormat, into directory: String, isCancelled: () -> Bool) throws {
        let reader = try format.makeReader(file: FileReader(path: path))
        while let entry = try reader.nextEntry() {
            if isCancelled() { throw CancellationError() }
            guard entry.kind == .file, let name = entry.path.string, name.utf8.count == 64, name.utf8.allSatisfy(IndexRecord.isHexDigit) else {
                throw BackupError(.verificationFailed, "pack \(key) holds an entry that is not a blob: \(entry.path)")
            }
            let target = directory + "/" + name
            let file = try AtomicFileWriter(finalPath: target, mode: 0o600, computeDigest: false)
            var hasher = SHA256()
            try reader.forEachChunk(bufferSize: 1 << 18) { chunk in
                hasher.update(bufferPointer: chunk)
                try file.write(chunk)
            }
            guard hasher.finalize().hexString == name else {
                // A dead entry (a file that changed while it was copied): no index names it.
                continue
            }
            _ = try file.finishWriting()
            try file.commit()
        }
    }
}

/// An incremental set as the entries of a tree archive: the index's records in order, each file's
/// content read from its blob in the scratch directory ``IncrementalRestore/extractBlobs`` filled.
final class IncrementalSetReader: ArchiveReader {
    private let index: IndexFile.Reader
    private let blobs: String
    private var current: IndexRecord?
    private var content: FileReader?
    private var remaining: Int64 = 0

    init(index: IncrementalSession.PreviousIndex, blobs: String) throws {
        self.index = try IncrementalWriter.openIndex(index)
        self.blobs = blobs
    }

    func nextEntry() throws -> ArchiveEntry? {
        content = nil
        current = try index.next()
        remaining = current?.size ?? 0
        return current?.archiveEntry
    }

    func read(into buffer: UnsafeMutableRawBufferPointer) throws -> Int {
        guard let record = current, record.kind == .file, let entry = record.entry else { return 0 }
        if content == nil {
            guard entry.utf8.count == 64, entry.utf8.allSatisfy(IndexRecord.isHexDigit) else {
                throw BackupError(.verificationFailed, "the index names the entry '\(entry)' for \(record.path), which is not a blob name")
            }
            do {
                content = try FileReader(path: blobs + "/" + entry)
            } catch {
                throw BackupError(.verificationFailed, "the content of \(record.path) (blob \(entry)) is not in its pack \(record.pack ?? "?")")
            }
        }
        let count = try content!.read(into: UnsafeMutableRawBufferPointer(rebasing: buffer[0..<Int(min(Int64(buffer.count), remaining))]))
        if count == 0, remaining > 0 {
            throw BackupError(.verificationFailed, "the blob \(entry) of \(record.path) is shorter than the \(record.size) bytes the index records")
        }
        remaining -= Int64(count)
        return count
    }
}
