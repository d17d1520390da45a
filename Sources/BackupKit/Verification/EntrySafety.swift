/// The rules every tree entry must satisfy before it is restored: no absolute paths, no `..`, no device
/// nodes, FIFOs or sockets, and nothing written through a symlink that the archive itself created.
/// Verification applies them to the whole archive first, so a hostile archive is refused before a
/// single file is written; the disk writer enforces them again as it writes. Paths are checked as
/// bytes, as the file system will see them, whether or not they are UTF-8.
package struct EntrySafety {
    private var symlinks: Set<RawPath> = []

    public init() {}

    public mutating func check(_ entry: ArchiveEntry) throws {
        let path = try Self.checkPath(entry.path, of: entry.path)
        if entry.kind == .hardlink { try checkThroughSymlinks(Self.checkPath(entry.linkTarget ?? "", of: entry.path), entry: entry.path, includingLast: true) }
        if entry.kind == .special {
            throw BackupError(.restoreFailed, "entry '\(entry.path.shortenedForMessage)' is a device node, FIFO or socket; BackupKit refuses to restore those")
        }
        try checkThroughSymlinks(path, entry: entry.path, includingLast: false)
        if entry.kind == .symlink { symlinks.insert(Self.joined(path[...])) }
    }

    /// Refuses a path that goes through a symlink an earlier entry made.
    private func checkThroughSymlinks(_ components: [RawPath], entry: RawPath, includingLast: Bool) throws {
        guard !symlinks.isEmpty else { return }
        let count = includingLast ? components.count : components.count - 1
        guard count > 0 else { return }
        for end in 1...count {
            let prefix = Self.joined(components[0..<end])
            if symlinks.contains(prefix) {
                throw BackupError(.restoreFailed, "entry '\(entry.shortenedForMessage)' would be written through the symlink '\(prefix.shortenedForMessage)' the archive made; refusing to write outside the target directory")
            }
        }
    }

    /// Checks one path and returns its components, without `.` and empty ones.
    @discardableResult
    public static func checkPath(_ path: RawPath, of entryPath: RawPath? = nil) throws -> [RawPath] {
        let entryPath = entryPath ?? path
        if path.isEmpty {
            throw BackupError(.restoreFailed, "entry '\(entryPath.shortenedForMessage)' has an empty path")
        }
        if path.bytes.first == UInt8(ascii: "/") {
            throw BackupError(.restoreFailed, "entry '\(entryPath.shortenedForMessage)' has an absolute path ('\(path.shortenedForMessage)'); refusing to write outside the target directory")
        }
        let components = path.components.filter { $0 != "." }
        if components.contains("..") {
            throw BackupError(.restoreFailed, "entry '\(entryPath.shortenedForMessage)' contains '..' ('\(path.shortenedForMessage)'); refusing to write outside the target directory")
        }
        // Linux's limits (NAME_MAX, PATH_MAX): a longer name cannot be written, so it is refused before
        // anything is, not halfway through the restore.
        if let long = components.first(where: { $0.bytes.count > 255 }) {
            throw BackupError(.restoreFailed, "entry '\(entryPath.shortenedForMessage)' has a name of \(long.bytes.count) bytes ('\(long.shortenedForMessage)'); a file name is at most 255 bytes")
        }
        if path.bytes.count > 4000 {
            throw BackupError(.restoreFailed, "entry '\(entryPath.shortenedForMessage)' has a path of \(path.bytes.count) bytes; a restorable path is at most 4000 bytes")
        }
        return components
    }

    private static func joined(_ components: ArraySlice<RawPath>) -> RawPath {
        components.reduce(RawPath(bytes: [])) { $0.appending($1) }
    }
}
