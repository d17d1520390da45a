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

    /// Writes every blob of the pack at `path` (or only those `wanted` names) into `directory` as a file
    /// named by its hash, checking each blob's content against its name.
    static func extractBlobs(pack path: String, key: String, format: any ArchiveFormat, into directory: String, wanted: Set<String>? = nil,
                             isCancelled: () -> Bool) throws {
        let reader = try format.makeReader(file: FileReader(path: path))
        while let entry = try reader.nextEntry() {
            if isCancelled() { throw CancellationError() }
            guard entry.kind == .file, let name = entry.path.string, name.utf8.count == 64, name.utf8.allSatisfy(IndexRecord.isHexDigit) else {
                throw BackupError(.verificationFailed, "pack \(key) holds an entry that is not a blob: \(entry.path)")
            }
            if let wanted, !wanted.contains(name) { continue }
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

    private let only: Set<RawPath>?

    /// With `only`, the entries of those paths alone.
    init(index: IncrementalSession.PreviousIndex, blobs: String, only: Set<RawPath>? = nil) throws {
        self.index = try IncrementalWriter.openIndex(index)
        self.blobs = blobs
        self.only = only
    }

    func nextEntry() throws -> ArchiveEntry? {
        content = nil
        current = try index.next()
        if let only {
            while let record = current, !only.contains(record.path) { current = try index.next() }
        }
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

/// The restore drill of an incremental set: a random sample of its files restored from their packs into
/// a scratch directory through the same extractor as a restore, each compared with the index (size,
/// SHA-256, mode), then removed.
enum IncrementalDrill {
    static let sampleSize = 64

    /// Up to `count` file records of the index, each as likely as any other (reservoir sampling), and
    /// how many files the index holds.
    static func sample(_ index: IncrementalSession.PreviousIndex, count: Int, using generator: inout some RandomNumberGenerator) throws
        -> (sample: [IndexRecord], files: Int) {
        let reader = try IncrementalWriter.openIndex(index)
        var sample: [IndexRecord] = []
        var files = 0
        while let record = try reader.next() {
            guard record.kind == .file else { continue }
            files += 1
            if sample.count < count {
                sample.append(record)
            } else {
                let slot = Int.random(in: 0..<files, using: &generator)
                if slot < count { sample[slot] = record }
            }
        }
        return (sample, files)
    }

    /// Restores `sample` from the checked `packs` (local paths by pack name) into `scratch` and compares.
    static func check(_ sample: [IndexRecord], files: Int, index: IncrementalSession.PreviousIndex, packs: [String: (path: String, format: any ArchiveFormat)],
                      scratch: String, artifact: ManifestArtifact, isCancelled: @escaping @Sendable () -> Bool) throws -> RestoreDrillResult {
        let started = ContinuousClock.now
        let blobs = scratch + "/blobs", target = scratch + "/files"
        try makeDirectory(blobs, purpose: "the restore drill's scratch directory")
        defer { try? RawPath(scratch).removeTree() }
        let wanted = Dictionary(grouping: sample, by: { $0.pack ?? "" })
        for (name, records) in wanted {
            guard let pack = packs[name] else {
                throw BackupError(.verificationFailed, "the index \(artifact.name) names the pack \(name), which its set's manifest does not list")
            }
            try IncrementalRestore.extractBlobs(pack: pack.path, key: name, format: pack.format, into: blobs, wanted: Set(records.compactMap(\.entry)),
                                                isCancelled: isCancelled)
        }
        let request = RestoreRequest(artifact: artifact, destination: .directory(target))
        let context = SourceContext(planName: "", logger: .init(label: "backupkit.drill"), stagingDirectory: scratch, isCancelled: isCancelled)
        _ = try TreeRestore.restore(request, from: IncrementalSetReader(index: index, blobs: blobs, only: Set(sample.map(\.path))), context: context)
        var differing: [String] = []
        for record in sample {
            let path = RawPath(target).appending(record.path).description
            var info = stat()
            let hash = try? FileDigest.of(path: path)
            if stat(path, &info) != 0 || hash?.sha256 != record.hash || hash?.size != record.size || UInt32(info.st_mode & 0o7777) != record.mode {
                differing.append(record.path.description)
            }
        }
        let seconds = (ContinuousClock.now - started).components
        let duration = Double(seconds.seconds) + Double(seconds.attoseconds) / 1e18
        let summary = differing.isEmpty
            ? "\(sample.count) sampled file(s) of \(files) restored from \(wanted.count) pack(s); every size, SHA-256 and mode matches the index"
            : "\(differing.count) of \(sample.count) sampled files differ from the index: \(differing.prefix(5).joined(separator: ", "))"
        return RestoreDrillResult(passed: differing.isEmpty, summary: summary, durationSeconds: (duration * 1000).rounded() / 1000,
                                  details: ["sampled": .integer(Int64(sample.count)), "files": .integer(Int64(files))])
    }
}
