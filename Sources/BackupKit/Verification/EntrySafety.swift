/// The rules every tree entry must satisfy before it is restored: no absolute paths, no `..`, no device
/// nodes, FIFOs or sockets. Verification applies them too, so a hostile archive is refused before a
/// single file is written.
public enum EntrySafety {
    public static func check(_ entry: ArchiveEntry) throws {
        try checkPath(entry.path, of: entry.path)
        if entry.kind == .hardlink { try checkPath(entry.linkTarget ?? "", of: entry.path) }
        if entry.kind == .special {
            throw BackupError(.restoreFailed, "entry '\(entry.path)' is a device node, FIFO or socket; BackupKit refuses to restore those")
        }
    }

    static func checkPath(_ path: String, of entryPath: String) throws {
        if path.isEmpty {
            throw BackupError(.restoreFailed, "entry '\(entryPath)' has an empty path")
        }
        if path.hasPrefix("/") {
            throw BackupError(.restoreFailed, "entry '\(entryPath)' has an absolute path ('\(path)'); refusing to write outside the target directory")
        }
        if path.split(separator: "/", omittingEmptySubsequences: true).contains("..") {
            throw BackupError(.restoreFailed, "entry '\(entryPath)' contains '..' ('\(path)'); refusing to write outside the target directory")
        }
    }
}
