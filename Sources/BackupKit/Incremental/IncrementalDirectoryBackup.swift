import Crypto
import Glibc

/// Writes one incremental set of a directory tree (docs/incremental-sets.md): walks it in tree order
/// (``DirectoryWalker``) beside the previous set's index, reuses the content of every file whose size,
/// mtime, ctime and inode did not change, reads the others once, and hands each path to the
/// ``IncrementalWriter``, which stores new content in packs and writes the index.
///
/// A file of up to 1 MiB is read whole and hashed; a larger one is hashed, then copied into the pack
/// and hashed again. A file that changes under the read is read again, three times at most; then the
/// set keeps its previous content, or leaves it out, with a warning.
public final class IncrementalDirectoryBackup {
    static let smallFileLimit = 1 << 20

    private let session: IncrementalSession
    private let context: SourceContext
    private let buffer: UnsafeMutableRawBufferPointer
    private var hardlinks: [FileIdentity: RawPath] = [:]

    public init(session: IncrementalSession, context: SourceContext) {
        self.session = session
        self.context = context
        buffer = .allocate(byteCount: Self.smallFileLimit, alignment: 16)
    }

    deinit { buffer.deallocate() }

    /// Backs up the directory `root` (less `exclude`) into a new index written to `index`.
    public func backUp(directory root: String, exclude: [GlobPattern], into index: any ArchiveWriter) throws -> SourceReport {
        let writer = try IncrementalWriter(session: session, context: context, root: root, order: .tree, output: index)
        try DirectoryWalker(root: root, exclude: exclude, context: context).walk { item in
            if let record = try record(for: item, writer: writer) {
                try writer.add(record)
            }
        }
        return try writer.finish()
    }

    private func record(for item: DirectoryWalker.Item, writer: IncrementalWriter) throws -> IndexRecord? {
        let info = item.info
        var record = IndexRecord(
            path: item.path, kind: .directory, mode: UInt32(info.st_mode & 0o7777), userID: info.st_uid, groupID: info.st_gid, size: 0,
            modified: FileTime(seconds: Int64(info.st_mtim.tv_sec), nanoseconds: Int32(info.st_mtim.tv_nsec)),
            changed: FileTime(seconds: Int64(info.st_ctim.tv_sec), nanoseconds: Int32(info.st_ctim.tv_nsec)), inode: UInt64(info.st_ino))
        let previous = try writer.previous(of: item.path)
        switch info.st_mode & S_IFMT {
        case S_IFDIR:
            return record
        case S_IFLNK:
            record.kind = .symlink
            record.linkTarget = try item.location.symlinkTarget()
            return record
        default:
            break
        }
        record.kind = .file
        record.size = Int64(info.st_size)
        if info.st_nlink > 1 {
            let identity = FileIdentity(info)
            if let first = hardlinks[identity] {
                record.kind = .hardlink
                record.size = 0
                record.linkTarget = first
                return record
            }
            hardlinks[identity] = item.path
        }
        if writer.reuse(&record, from: previous) { return record }
        return try store(item, record: record, previous: previous, writer: writer)
    }

    /// Reads a file and stores its content unless a pack already holds it; nil when the file vanished
    /// or kept changing with no previous content to keep.
    private func store(_ item: DirectoryWalker.Item, record: IndexRecord, previous: IndexRecord?, writer: IncrementalWriter) throws -> IndexRecord? {
        let fd = item.location.withCString { open($0, O_RDONLY | O_NOFOLLOW | O_CLOEXEC) }
        guard fd >= 0 else {
            if errno == ENOENT || errno == ELOOP {
                context.warn("\(item.path.shortenedForMessage) disappeared or was replaced before it was read; skipped")
                return nil
            }
            throw BackupError(.sourceFailed, "cannot open \(item.location): \(String(cString: strerror(errno))). Check its permissions and the user backupctl runs as.")
        }
        defer { close(fd) }
        writer.noteRead(bytes: 0, newFile: true)
        for _ in 0..<3 {
            var before = stat()
            guard fstat(fd, &before) == 0 else { throw BackupError(.sourceFailed, "cannot read the attributes of \(item.location)") }
            let size = Int64(before.st_size)
            var stored = record
            stored.size = size
            stored.modified = FileTime(seconds: Int64(before.st_mtim.tv_sec), nanoseconds: Int32(before.st_mtim.tv_nsec))
            stored.changed = FileTime(seconds: Int64(before.st_ctim.tv_sec), nanoseconds: Int32(before.st_ctim.tv_nsec))
            stored.mode = UInt32(before.st_mode & 0o7777)
            let pack: String?
            let hash: String
            if size < Int64(Self.smallFileLimit) {
                let count = try readFully(fd, item, offset: 0, limit: Self.smallFileLimit)
                writer.noteRead(bytes: count)
                // A short or long read: it changed under the read; read it again.
                guard count == Int(size), try unchanged(fd, since: before, item) else { continue }
                let content = UnsafeRawBufferPointer(rebasing: buffer[0..<count])
                hash = SHA256.hash(data: content).hexString
                pack = try writer.store(hash: hash, bytes: content)
            } else {
                hash = try hashFile(fd, item, size: size, writer: writer)
                guard try unchanged(fd, since: before, item) else { continue }
                pack = try writer.store(hash: hash, size: size) { write in try copyFile(fd, item, size: size, into: write) }
            }
            guard let pack else { continue }
            stored.hash = hash
            stored.pack = pack
            stored.entry = hash
            return stored
        }
        // It kept changing: keep what the previous set holds of it, or leave it out, and say so.
        if let previous, previous.kind == .file, let pack = previous.pack, session.previousPacks[pack] != nil, previous.hash != nil {
            context.warn("\(item.path.shortenedForMessage) kept changing while it was read; the set keeps its previous content (\(previous.size) bytes)")
            var kept = previous
            kept.path = item.path
            return kept
        }
        context.warn("\(item.path.shortenedForMessage) kept changing while it was read three times; it is not in this set")
        return nil
    }

    private func unchanged(_ fd: Int32, since before: stat, _ item: DirectoryWalker.Item) throws -> Bool {
        var after = stat()
        guard fstat(fd, &after) == 0 else { throw BackupError(.sourceFailed, "cannot read the attributes of \(item.location)") }
        return before.st_size == after.st_size && before.st_mtim.tv_sec == after.st_mtim.tv_sec && before.st_mtim.tv_nsec == after.st_mtim.tv_nsec
            && before.st_ino == after.st_ino && before.st_ctim.tv_sec == after.st_ctim.tv_sec && before.st_ctim.tv_nsec == after.st_ctim.tv_nsec
    }

    private func hashFile(_ fd: Int32, _ item: DirectoryWalker.Item, size: Int64, writer: IncrementalWriter) throws -> String {
        var hasher = SHA256()
        posix_fadvise(fd, 0, 0, POSIX_FADV_SEQUENTIAL)
        var offset: Int64 = 0
        while offset < size {
            try context.checkCancellation()
            let count = try readFully(fd, item, offset: offset, limit: Int(min(Int64(buffer.count), size - offset)))
            if count == 0 { break }
            hasher.update(bufferPointer: UnsafeRawBufferPointer(rebasing: buffer[0..<count]))
            offset += Int64(count)
            writer.noteRead(bytes: count)
        }
        return offset == size ? hasher.finalize().hexString : "short"
    }

    /// Copies `size` bytes through `write`, padding with zeros if the file shrank; returns the hash of
    /// what was copied.
    private func copyFile(_ fd: Int32, _ item: DirectoryWalker.Item, size: Int64, into write: (UnsafeRawBufferPointer) throws -> Void) throws -> String {
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
            try write(chunk)
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
}
