import Glibc

/// Walks a directory tree depth first in tree order (``TreeOrder``): each directory's names sorted by
/// their bytes, a directory before what it holds. It holds one directory's names per level, never the
/// whole tree. Sockets, FIFOs and devices are skipped with a warning, like a path that disappears
/// between the listing and its `lstat`.
public struct DirectoryWalker {
    public struct Item {
        /// The path relative to the root.
        public var path: RawPath
        /// The path on disk.
        public var location: RawPath
        public var info: stat
    }

    public var root: String
    public var exclude: [GlobPattern]
    public var context: SourceContext

    public init(root: String, exclude: [GlobPattern], context: SourceContext) {
        self.root = root
        self.exclude = exclude
        self.context = context
    }

    /// Calls `visit` for every directory, file and link below the root, in tree order.
    public func walk(_ visit: (Item) throws -> Void) throws {
        try walkChildren(of: RawPath(root), relative: "", visit)
    }

    private func walkChildren(of directory: RawPath, relative: RawPath, _ visit: (Item) throws -> Void) throws {
        guard let names = directory.directoryNames() else {
            if relative.isEmpty || errno != ENOENT {
                throw BackupError(.sourceFailed, "cannot list the directory \(directory): \(String(cString: strerror(errno))). Check its permissions or exclude it.")
            }
            context.warn("\(relative.shortenedForMessage) disappeared before it was read; skipped")
            return
        }
        for name in names {
            try context.checkCancellation()
            let location = directory.appending(name)
            let path = relative.appending(name)
            guard let info = location.linkStatus() else {
                if errno == ENOENT {
                    context.warn("\(path.shortenedForMessage) disappeared before it was read; skipped")
                    continue
                }
                throw BackupError(.sourceFailed, "cannot read the attributes of \(location): \(String(cString: strerror(errno)))")
            }
            let type = info.st_mode & S_IFMT
            if exclude.contains(where: { $0.matches(path, isDirectory: type == S_IFDIR) }) { continue }
            guard type == S_IFDIR || type == S_IFREG || type == S_IFLNK else {
                context.warn("\(path.shortenedForMessage) is a socket, FIFO or device; skipped")
                continue
            }
            try visit(Item(path: path, location: location, info: info))
            if type == S_IFDIR { try walkChildren(of: location, relative: path, visit) }
        }
    }
}
