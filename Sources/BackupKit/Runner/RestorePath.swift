import Foundation
import Glibc

/// The last check before a restore writes: a destination computed from a set's names
/// (`DIR/<source>`, `DIR/<subject>.sql`) must be the restore target or inside it, once standardised
/// (no `.` or `..`) and with the symlinks of its existing part resolved. The names are validated when
/// the manifest is read; this is defence in depth.
package enum RestorePath {
    /// Returns `path` resolved when it is `target` or inside it; else throws `.restoreFailed` naming
    /// both. With `followingLast` false, the last component is a file that is written by a rename
    /// (which replaces a symlink there rather than following it), so only its directory is resolved.
    package static func checked(_ path: String, inside target: String, followingLast: Bool = true) throws -> String {
        guard let resolvedTarget = resolved(target) else {
            throw BackupError(.restoreFailed, "the restore target \(target) cannot be resolved (a dangling symlink or no permission on the way)")
        }
        let resolvedPath: String?
        if followingLast {
            resolvedPath = resolved(path)
        } else {
            let name = (path as NSString).lastPathComponent
            guard !name.isEmpty, name != ".", name != "..", !path.hasSuffix("/") else {
                throw BackupError(.restoreFailed, "the restore destination \(path) is not a file name inside the restore target \(target); refusing to write there")
            }
            resolvedPath = resolved((path as NSString).deletingLastPathComponent).map { ($0 == "/" ? "" : $0) + "/" + name }
        }
        guard let resolvedPath else {
            throw BackupError(.restoreFailed, "the restore destination \(path) cannot be resolved (a dangling symlink or no permission on the way); refusing to write there")
        }
        let inside = resolvedTarget == "/" || resolvedPath == resolvedTarget || resolvedPath.hasPrefix(resolvedTarget + "/")
        guard inside else {
            throw BackupError(.restoreFailed, "the restore destination \(path) resolves to \(resolvedPath), outside the restore target \(target) (\(resolvedTarget)); refusing to write there")
        }
        return resolvedPath
    }

    /// `path` made absolute, with the symlinks, `.` and `..` of its existing part resolved by the file
    /// system, and its missing rest appended with `..` taken by name (the directories a restore creates
    /// are no symlinks). Nil when a component exists but cannot be resolved: a dangling symlink, or a
    /// directory this process may not search.
    static func resolved(_ path: String) -> String? {
        let absolute = path.hasPrefix("/") ? path : FileManager.default.currentDirectoryPath + "/" + path
        var existing = absolute.split(separator: "/", omittingEmptySubsequences: true).map(String.init)
        var missing: [String] = []
        while true {
            let prefix = "/" + existing.joined(separator: "/")
            if let real = realpath(prefix, nil) {
                var parts = String(cString: real).split(separator: "/", omittingEmptySubsequences: true).map(String.init)
                free(real)
                for part in missing where part != "." {
                    if part == ".." {
                        _ = parts.popLast()
                    } else {
                        parts.append(part)
                    }
                }
                return "/" + parts.joined(separator: "/")
            }
            var info = stat()
            guard errno == ENOENT, lstat(prefix, &info) != 0, let last = existing.popLast() else { return nil }
            missing.insert(last, at: 0)
        }
    }
}
