import BackupKit
import Glibc

/// Walks files and directories on disk and writes them into a tree archive: regular files, directories,
/// symlinks and hardlinks, with modes, mtimes, uid and gid.
///
/// A file that changes while it is read never becomes a silently corrupt entry:
/// - files up to 1 MiB are read whole into memory and re-read (up to three times) until a read sees the
///   same size and mtime before and after, so the entry is a consistent snapshot;
/// - larger files stream; if one shrinks, the entry is padded to its declared size and a warning names
///   it; if one grows or its mtime moves, a warning names it;
/// - a file that disappears before it is read is skipped with a warning.
/// Sockets, FIFOs and devices are skipped with a warning.
///
/// Names are read and stored as the file system's bytes. A name that is not UTF-8 is archived as its
/// bytes (pax `hdrcharset=BINARY`) and restored as them, with a warning that shows it with `\xHH` escapes.
final class TreeArchiver {
    static let smallFileLimit = 1 << 20

    private let archive: any ArchiveWriter
    private let context: SourceContext
    private let buffer: UnsafeMutableRawBufferPointer
    private var hardlinks: [FileIdentity: RawPath] = [:]

    init(archive: any ArchiveWriter, context: SourceContext) {
        self.archive = archive
        self.context = context
        buffer = .allocate(byteCount: Self.smallFileLimit, alignment: 16)
    }

    deinit { buffer.deallocate() }

    /// Adds everything below `root`, with paths relative to it; `exclude` patterns skip paths.
    func addContents(of root: String, exclude: [GlobPattern]) throws {
        try addChildren(of: RawPath(root), relative: "", exclude: exclude)
    }

    /// Adds one path (and, for a directory, everything below it) under `archivePath`.
    func add(path: RawPath, archivePath: RawPath, exclude: [GlobPattern] = []) throws {
        guard let info = path.linkStatus() else {
            if errno == ENOENT {
                context.warn("\(path) disappeared before it was read; skipped")
                return
            }
            throw sourceError("cannot read the attributes of \(path): \(String(cString: strerror(errno)))")
        }
        if archivePath.string == nil { warnNotUTF8(archivePath) }
        try addEntry(path: path, archivePath: archivePath, info: info, exclude: exclude)
    }

    private func addChildren(of directory: RawPath, relative: RawPath, exclude: [GlobPattern]) throws {
        guard let names = directory.directoryNames() else {
            throw sourceError("cannot list the directory \(directory): \(String(cString: strerror(errno))). Check its permissions or exclude it.")
        }
        for name in names {
            try context.checkCancellation()
            let path = directory.appending(name)
            let archivePath = relative.appending(name)
            guard let info = path.linkStatus() else {
                if errno == ENOENT {
                    context.warn("\(archivePath.shortenedForMessage) disappeared before it was read; skipped")
                    continue
                }
                throw sourceError("cannot read the attributes of \(path): \(String(cString: strerror(errno)))")
            }
            let isDirectory = (info.st_mode & S_IFMT) == S_IFDIR
            if exclude.contains(where: { $0.matches(archivePath, isDirectory: isDirectory) }) { continue }
            if name.string == nil { warnNotUTF8(archivePath) }
            try addEntry(path: path, archivePath: archivePath, info: info, exclude: exclude)
        }
    }

    private func addEntry(path: RawPath, archivePath: RawPath, info: stat, exclude: [GlobPattern]) throws {
        var entry = ArchiveEntry(
            path: archivePath, kind: .file, permissions: UInt32(info.st_mode & 0o7777), userID: info.st_uid, groupID: info.st_gid,
            modificationTime: FileTime(seconds: Int64(info.st_mtim.tv_sec), nanoseconds: Int32(info.st_mtim.tv_nsec))
        )
        switch info.st_mode & S_IFMT {
        case S_IFDIR:
            entry.kind = .directory
            try archive.beginEntry(entry)
            try archive.endEntry()
            try addChildren(of: path, relative: archivePath, exclude: exclude)
        case S_IFLNK:
            entry.kind = .symlink
            let target = try path.symlinkTarget()
            if target.string == nil {
                context.warn("the symlink \(archivePath.shortenedForMessage) points at a name that is not UTF-8 (\(target.shortenedForMessage)); the target is stored as its bytes and restored as them")
            }
            entry.linkTarget = target
            try archive.beginEntry(entry)
            try archive.endEntry()
        case S_IFREG:
            if info.st_nlink > 1 {
                let identity = FileIdentity(info)
                if let first = hardlinks[identity] {
                    entry.kind = .hardlink
                    entry.linkTarget = first
                    try archive.beginEntry(entry)
                    try archive.endEntry()
                    return
                }
                hardlinks[identity] = archivePath
            }
            try addFile(path: path, entry: entry)
        default:
            context.warn("\(archivePath.shortenedForMessage) is a socket, FIFO or device; skipped")
        }
    }

    private func addFile(path: RawPath, entry: ArchiveEntry) throws {
        let fd = path.withCString { open($0, O_RDONLY | O_NOFOLLOW | O_CLOEXEC) }
        guard fd >= 0 else {
            if errno == ENOENT || errno == ELOOP {
                context.warn("\(entry.path.shortenedForMessage) disappeared or was replaced before it was read; skipped")
                return
            }
            throw sourceError("cannot open \(path): \(String(cString: strerror(errno))). Check its permissions and the user backupctl runs as.")
        }
        defer { close(fd) }
        var before = stat()
        guard fstat(fd, &before) == 0 else { throw sourceError("cannot read the attributes of \(path)") }
        var entry = entry
        entry.permissions = UInt32(before.st_mode & 0o7777)
        entry.modificationTime = FileTime(seconds: Int64(before.st_mtim.tv_sec), nanoseconds: Int32(before.st_mtim.tv_nsec))
        if before.st_size < Self.smallFileLimit {
            try addSmallFile(fd: fd, path: path, entry: entry, before: before)
        } else {
            try addLargeFile(fd: fd, path: path, entry: entry, before: before)
        }
    }

    /// Reads the whole file into memory until a read sees the same size and mtime before and after.
    private func addSmallFile(fd: Int32, path: RawPath, entry: ArchiveEntry, before: stat) throws {
        var before = before
        var count = 0
        var attempts = 0
        while true {
            count = try readFully(fd: fd, path: path, offset: 0, limit: buffer.count)
            var after = stat()
            guard fstat(fd, &after) == 0 else { throw sourceError("cannot read the attributes of \(path)") }
            if Self.unchanged(before, after), count == Int(after.st_size) { break }
            attempts += 1
            if attempts == 3 || count == buffer.count {
                context.warn("\(entry.path.shortenedForMessage) kept changing while it was read; its entry is the last read (\(count) bytes)")
                break
            }
            before = after
        }
        var entry = entry
        entry.size = Int64(count)
        entry.modificationTime = FileTime(seconds: Int64(before.st_mtim.tv_sec), nanoseconds: Int32(before.st_mtim.tv_nsec))
        try archive.beginEntry(entry)
        try archive.write(UnsafeRawBufferPointer(rebasing: buffer[0..<count]))
        try archive.endEntry()
        context.progress(Int64(count))
    }

    /// Streams a large file. The header carries the size seen when the file was opened.
    private func addLargeFile(fd: Int32, path: RawPath, entry: ArchiveEntry, before: stat) throws {
        var entry = entry
        entry.size = Int64(before.st_size)
        try archive.beginEntry(entry)
        posix_fadvise(fd, 0, 0, POSIX_FADV_SEQUENTIAL)
        var offset: Int64 = 0
        while offset < entry.size {
            try context.checkCancellation()
            let want = Int(min(Int64(buffer.count), entry.size - offset))
            let count = try readFully(fd: fd, path: path, offset: offset, limit: want)
            if count == 0 { break }
            try archive.write(UnsafeRawBufferPointer(rebasing: buffer[0..<count]))
            offset += Int64(count)
            context.progress(Int64(count))
        }
        if offset < entry.size {
            context.warn("\(entry.path.shortenedForMessage) shrank from \(entry.size) to \(offset) bytes while it was read; its entry is padded with zeros to the original size and must not be trusted")
            let zeros = UnsafeMutableRawBufferPointer(rebasing: buffer[0..<min(buffer.count, Int(entry.size - offset))])
            zeros.initializeMemory(as: UInt8.self, repeating: 0)
            while offset < entry.size {
                let count = Int(min(Int64(zeros.count), entry.size - offset))
                try archive.write(UnsafeRawBufferPointer(rebasing: zeros[0..<count]))
                offset += Int64(count)
            }
        } else {
            var after = stat()
            if fstat(fd, &after) == 0, !Self.unchanged(before, after) {
                context.warn("\(entry.path.shortenedForMessage) changed while it was read (size \(before.st_size) → \(after.st_size)); its entry holds the first \(entry.size) bytes as read and may mix old and new content")
            }
        }
        try archive.endEntry()
    }

    /// Reads up to `limit` bytes at `offset`, retrying short reads; returns fewer only at end of file.
    private func readFully(fd: Int32, path: RawPath, offset: Int64, limit: Int) throws -> Int {
        var total = 0
        while total < limit {
            let count = pread(fd, buffer.baseAddress! + total, limit - total, off_t(offset) + off_t(total))
            if count < 0 {
                if errno == EINTR { continue }
                throw sourceError("cannot read \(path): \(String(cString: strerror(errno)))")
            }
            if count == 0 { break }
            total += count
        }
        return total
    }

    private static func unchanged(_ a: stat, _ b: stat) -> Bool {
        a.st_size == b.st_size && a.st_mtim.tv_sec == b.st_mtim.tv_sec && a.st_mtim.tv_nsec == b.st_mtim.tv_nsec && a.st_ino == b.st_ino
    }


    private func warnNotUTF8(_ archivePath: RawPath) {
        context.warn("\(archivePath.shortenedForMessage) has a name that is not UTF-8 (shown with \\x escapes); it is stored as its bytes (pax hdrcharset=BINARY) and restored as the same bytes, though other tools may show it differently")
    }

    private func sourceError(_ message: String) -> BackupError {
        BackupError(.sourceFailed, message)
    }
}
