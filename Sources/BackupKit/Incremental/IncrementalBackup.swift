import Crypto
import Glibc

/// Writes one incremental set of a directory tree (docs/incremental-sets.md): walks the tree in tree
/// order beside the previous set's index, reuses the content of every file whose size, mtime, ctime and
/// inode did not change, reads the others once, stores content no earlier set holds in new packs, and
/// writes the new index through `index` (the artifact's stream).
///
/// Memory: one directory's names per level, the previous index one line at a time, the blob lookup on
/// disk (``BlobLookup``); the blobs this run adds are kept in memory by hash until it ends.
public final class IncrementalBackup {
    static let smallFileLimit = 1 << 20

    private let session: IncrementalSession
    private let context: SourceContext
    private let packs: PackWriter
    private let buffer: UnsafeMutableRawBufferPointer
    private var previousReader: IndexFile.Reader?
    private var pendingPrevious: IndexRecord?
    private var lookup: BlobLookup?
    private var lookupBuilt = false
    private var newBlobs: [String: String] = [:]
    private var hardlinks: [FileIdentity: RawPath] = [:]
    private var referenced: Set<String> = []
    private var stats = Stats()

    struct FileIdentity: Hashable {
        var device: UInt64
        var inode: UInt64
    }

    struct Stats {
        var files = 0
        var reusedFiles = 0
        var readFiles = 0
        var readBytes: Int64 = 0
        var newBlobs = 0
        var newBytes: Int64 = 0
    }

    public init(session: IncrementalSession, context: SourceContext) {
        self.session = session
        self.context = context
        packs = PackWriter(format: session.packFormat, staging: session.staging, plan: session.plan, source: session.source,
                           sourceType: session.sourceType, subject: session.subject, limit: session.packLimit)
        buffer = .allocate(byteCount: Self.smallFileLimit, alignment: 16)
    }

    deinit { buffer.deallocate() }

    /// Backs up the directory `root` (less `exclude`) into a new index written to `index`.
    public func backUp(directory root: String, exclude: [GlobPattern], into index: any ArchiveWriter) throws -> SourceReport {
        if let previous = session.previous {
            previousReader = try Self.openIndex(previous)
            pendingPrevious = try previousReader!.next()
        }
        let writer = try IndexFile.Writer(header: IndexFile.Header(source: session.source, subject: session.subject, set: session.set.description, root: root),
                                          output: { try index.write($0) })
        let walker = DirectoryWalker(root: root, exclude: exclude, context: context)
        try walker.walk { item in
            if let record = try record(for: item) {
                try writer.add(record)
            }
        }
        try packs.close()
        try writer.finish()
        session.finish(IncrementalSession.Outcome(newPacks: packs.closed, referencedPacks: referenced))
        return SourceReport(details: [
            "mode": .string(ManifestArtifact.incrementalMode),
            "files": .integer(Int64(stats.files)),
            "reused_files": .integer(Int64(stats.reusedFiles)),
            "read_files": .integer(Int64(stats.readFiles)),
            "read_bytes": .integer(stats.readBytes),
            "new_blobs": .integer(Int64(stats.newBlobs)),
            "new_blob_bytes": .integer(stats.newBytes),
            "packs": .integer(Int64(referenced.count)),
            "new_packs": .integer(Int64(packs.closed.count)),
        ])
    }

    static func openIndex(_ index: IncrementalSession.PreviousIndex) throws -> IndexFile.Reader {
        let reader = try index.format.makeReader(file: FileReader(path: index.path))
        guard try reader.nextEntry() != nil else { throw BackupError(.verificationFailed, "the index \(index.name) is empty") }
        return try IndexFile.Reader(input: reader, name: index.name)
    }

    /// The previous set's record of `path`, moving the previous index forward to it.
    private func previousRecord(of path: RawPath) throws -> IndexRecord? {
        while let pending = pendingPrevious, TreeOrder.compare(pending.path, path) < 0 {
            pendingPrevious = try previousReader!.next()
        }
        if let pending = pendingPrevious, pending.path == path { return pending }
        return nil
    }

    private func record(for item: DirectoryWalker.Item) throws -> IndexRecord? {
        let info = item.info
        var record = IndexRecord(
            path: item.path, kind: .directory, mode: UInt32(info.st_mode & 0o7777), userID: info.st_uid, groupID: info.st_gid, size: 0,
            modified: FileTime(seconds: Int64(info.st_mtim.tv_sec), nanoseconds: Int32(info.st_mtim.tv_nsec)),
            changed: FileTime(seconds: Int64(info.st_ctim.tv_sec), nanoseconds: Int32(info.st_ctim.tv_nsec)), inode: UInt64(info.st_ino))
        let previous = try previousRecord(of: item.path)
        switch info.st_mode & S_IFMT {
        case S_IFDIR:
            return record
        case S_IFLNK:
            record.kind = .symlink
            record.linkTarget = try readLink(item.location)
            return record
        default:
            break
        }
        record.kind = .file
        record.size = Int64(info.st_size)
        if info.st_nlink > 1 {
            let identity = FileIdentity(device: UInt64(info.st_dev), inode: UInt64(info.st_ino))
            if let first = hardlinks[identity] {
                record.kind = .hardlink
                record.size = 0
                record.linkTarget = first
                return record
            }
            hardlinks[identity] = item.path
        }
        stats.files += 1
        if let previous, record.hasSameContentSignals(as: previous), let pack = previous.pack, session.previousPacks[pack] != nil {
            record.hash = previous.hash
            record.pack = pack
            record.entry = previous.entry
            referenced.insert(pack)
            stats.reusedFiles += 1
            return record
        }
        guard let stored = try store(item, previous: previous) else { return nil }
        record.size = stored.size
        record.modified = stored.modified
        record.changed = stored.changed
        record.mode = stored.mode
        record.hash = stored.hash
        record.pack = stored.pack
        record.entry = stored.hash
        referenced.insert(stored.pack)
        return record
    }

    private struct Stored {
        var hash: String
        var pack: String
        var size: Int64
        var modified: FileTime
        var changed: FileTime
        var mode: UInt32
    }

    /// Reads a file and stores its content unless a pack already holds it; nil when the file vanished.
    private func store(_ item: DirectoryWalker.Item, previous: IndexRecord?) throws -> Stored? {
        let fd = item.location.withCString { open($0, O_RDONLY | O_NOFOLLOW | O_CLOEXEC) }
        guard fd >= 0 else {
            if errno == ENOENT || errno == ELOOP {
                context.warn("\(item.path.shortenedForMessage) disappeared or was replaced before it was read; skipped")
                return nil
            }
            throw BackupError(.sourceFailed, "cannot open \(item.location): \(String(cString: strerror(errno))). Check its permissions and the user backupctl runs as.")
        }
        defer { close(fd) }
        stats.readFiles += 1
        for _ in 0..<3 {
            var before = stat()
            guard fstat(fd, &before) == 0 else { throw BackupError(.sourceFailed, "cannot read the attributes of \(item.location)") }
            let size = Int64(before.st_size)
            let hash: String
            var small = false
            if size < Int64(Self.smallFileLimit) {
                let count = try readFully(fd, item, offset: 0, limit: Self.smallFileLimit)
                counted(count)
                // A short or long read: it changed under the read; read it again.
                guard count == Int(size) else { continue }
                hash = SHA256.hash(data: UnsafeRawBufferPointer(rebasing: buffer[0..<count])).hexString
                small = true
            } else {
                hash = try hashFile(fd, item, size: size)
            }
            var after = stat()
            guard fstat(fd, &after) == 0 else { throw BackupError(.sourceFailed, "cannot read the attributes of \(item.location)") }
            guard Self.sameSignals(before, after) else { continue }
            let stored = { (pack: String) in
                Stored(hash: hash, pack: pack, size: size, modified: FileTime(seconds: Int64(before.st_mtim.tv_sec), nanoseconds: Int32(before.st_mtim.tv_nsec)),
                       changed: FileTime(seconds: Int64(before.st_ctim.tv_sec), nanoseconds: Int32(before.st_ctim.tv_nsec)),
                       mode: UInt32(before.st_mode & 0o7777))
            }
            if let pack = try knownPack(of: hash) { return stored(pack) }
            // New content: into the open pack. A small file is written from what was hashed; a large one
            // is read again and must hash the same, or its entry is dead and the file read again.
            let pack = try packs.beginEntry(hash: hash, size: size)
            var copyHash: String
            if small {
                try packs.write(UnsafeRawBufferPointer(rebasing: buffer[0..<Int(size)]))
                copyHash = hash
            } else {
                copyHash = try copyFile(fd, item, size: size)
            }
            try packs.endEntry(name: hash, dead: copyHash != hash)
            guard copyHash == hash else { continue }
            newBlobs[hash] = pack
            stats.newBlobs += 1
            stats.newBytes += size
            return stored(pack)
        }
        // It kept changing: keep what the previous set holds of it, or leave it out, and say so.
        if let previous, previous.kind == .file, let pack = previous.pack, session.previousPacks[pack] != nil, let hash = previous.hash {
            context.warn("\(item.path.shortenedForMessage) kept changing while it was read; the set keeps its previous content (\(previous.size) bytes)")
            return Stored(hash: hash, pack: pack, size: previous.size, modified: previous.modified, changed: previous.changed, mode: previous.mode)
        }
        context.warn("\(item.path.shortenedForMessage) kept changing while it was read three times; it is not in this set")
        return nil
    }

    private func counted(_ bytes: Int) {
        stats.readBytes += Int64(bytes)
        context.progress(Int64(bytes))
    }

    /// The pack that already holds `hash`: one written by this run, or one the previous set names.
    private func knownPack(of hash: String) throws -> String? {
        if let pack = newBlobs[hash] { return pack }
        if !lookupBuilt {
            lookupBuilt = true
            if let previous = session.previous {
                let reader = try Self.openIndex(previous)
                lookup = try BlobLookup(index: reader, staging: session.staging)
            }
        }
        guard let pack = try lookup?.pack(of: hash), session.previousPacks[pack] != nil else { return nil }
        return pack
    }

    private func hashFile(_ fd: Int32, _ item: DirectoryWalker.Item, size: Int64) throws -> String {
        var hasher = SHA256()
        posix_fadvise(fd, 0, 0, POSIX_FADV_SEQUENTIAL)
        var offset: Int64 = 0
        while offset < size {
            try context.checkCancellation()
            let count = try readFully(fd, item, offset: offset, limit: Int(min(Int64(buffer.count), size - offset)))
            if count == 0 { break }
            hasher.update(bufferPointer: UnsafeRawBufferPointer(rebasing: buffer[0..<count]))
            offset += Int64(count)
            counted(count)
        }
        return offset == size ? hasher.finalize().hexString : "short"
    }

    /// Copies `size` bytes into the open pack entry, padding with zeros if the file shrank; returns the
    /// hash of what was copied.
    private func copyFile(_ fd: Int32, _ item: DirectoryWalker.Item, size: Int64) throws -> String {
        var hasher = SHA256()
        var offset: Int64 = 0
        while offset < size {
            try context.checkCancellation()
            var count = try readFully(fd, item, offset: offset, limit: Int(min(Int64(buffer.count), size - offset)))
            if count == 0 {
                count = Int(min(Int64(buffer.count), size - offset))
                buffer.baseAddress!.initializeMemory(as: UInt8.self, repeating: 0, count: count)
            }
            let chunk = UnsafeRawBufferPointer(rebasing: buffer[0..<count])
            hasher.update(bufferPointer: chunk)
            try packs.write(chunk)
            offset += Int64(count)
        }
        return hasher.finalize().hexString
    }

    private func readFully(_ fd: Int32, _ item: DirectoryWalker.Item, offset: Int64, limit: Int) throws -> Int {
        var total = 0
        while total < limit {
            let count = pread(fd, buffer.baseAddress! + total, limit - total, off_t(offset) + off_t(total))
            if count < 0 {
                if errno == EINTR { continue }
                throw BackupError(.sourceFailed, "cannot read \(item.location): \(String(cString: strerror(errno)))")
            }
            if count == 0 { break }
            total += count
        }
        return total
    }

    private static func sameSignals(_ a: stat, _ b: stat) -> Bool {
        a.st_size == b.st_size && a.st_mtim.tv_sec == b.st_mtim.tv_sec && a.st_mtim.tv_nsec == b.st_mtim.tv_nsec && a.st_ino == b.st_ino
            && a.st_ctim.tv_sec == b.st_ctim.tv_sec && a.st_ctim.tv_nsec == b.st_ctim.tv_nsec
    }

    private func readLink(_ path: RawPath) throws -> RawPath {
        var target = [UInt8](repeating: 0, count: Int(PATH_MAX) + 1)
        let count = path.withCString { readlink($0, &target, target.count) }
        guard count >= 0 else { throw BackupError(.sourceFailed, "cannot read the symlink \(path): \(String(cString: strerror(errno)))") }
        return RawPath(bytes: Array(target[0..<count]))
    }
}
