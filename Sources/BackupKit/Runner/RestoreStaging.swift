import Foundation
import Glibc

/// Where a directory restore writes before anything reaches its target: a temporary directory on the
/// target's file system, `.TARGET.restore-XXXXXX` beside a target that does not exist yet, or
/// `TARGET/.restore-XXXXXX` inside one that does. ``commit()`` moves its contents into place with
/// renames only (no data is written then, so a full disk cannot strike); ``discard()`` removes it, and
/// any parent directories made for it, leaving the target as it was.
struct RestoreStaging {
    /// The restore target as given.
    let target: String
    /// The temporary directory that stands in for the target while artifacts are written.
    let root: String
    /// Whether the target existed (the contents are moved over) or not (the directory is renamed).
    let targetExisted: Bool
    /// `root` and the target with their symlinks resolved, to give reports the final paths.
    private let resolvedRoot: String
    private let resolvedTarget: String
    /// The directories made for the temporary directory's parent, deepest first.
    private let createdParents: [String]

    init(target: String) throws {
        self.target = target
        var isDirectory: ObjCBool = false
        targetExisted = FileManager.default.fileExists(atPath: target, isDirectory: &isDirectory)
        let template: String
        var created: [String] = []
        if targetExisted {
            guard isDirectory.boolValue else {
                throw BackupError(.restoreFailed, "restore target \(target) exists and is not a directory")
            }
            template = target + "/.restore-XXXXXX"
        } else {
            let parent = (target as NSString).deletingLastPathComponent
            var missing = parent.isEmpty ? "." : parent
            while !FileManager.default.fileExists(atPath: missing) {
                created.append(missing)
                missing = (missing as NSString).deletingLastPathComponent
            }
            if !created.isEmpty {
                try makeDirectory(parent, purpose: "the restore target's parent", as: .restoreFailed)
            }
            template = (parent.isEmpty ? "." : parent) + "/." + (target as NSString).lastPathComponent + ".restore-XXXXXX"
        }
        createdParents = created
        var bytes = Array(template.utf8CString)
        guard mkdtemp(&bytes) != nil else {
            let error = fileSystemError("cannot create a temporary restore directory", template)
            Self.removeEmpty(created)
            throw error
        }
        root = String(decoding: bytes.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
        resolvedRoot = Self.resolved(root) ?? root
        resolvedTarget = targetExisted ? (Self.resolved(target) ?? target)
            : (Self.resolved((root as NSString).deletingLastPathComponent) ?? ".") + "/" + (target as NSString).lastPathComponent
    }

    /// Where a destination at or inside the target is written meanwhile.
    func staged(_ destination: String) -> String {
        destination.hasPrefix(target) ? root + destination.dropFirst(target.count) : destination
    }

    /// A path a restore reported, under the temporary directory, as it is once committed.
    func final(_ path: String) -> String {
        if path.hasPrefix(resolvedRoot) { return resolvedTarget + path.dropFirst(resolvedRoot.count) }
        if path.hasPrefix(root) { return resolvedTarget + path.dropFirst(root.count) }
        return path
    }

    /// Puts the restored files in place: the temporary directory becomes the target, or, into an
    /// existing target, each entry replaces the one with the same name (directories are merged, so
    /// files the archive does not hold are kept, as libarchive's extraction into it did).
    /// With `mirror`, whatever the target holds that the restored tree does not is removed first, so
    /// the target ends up exactly the set (`restore --mirror`). Returns the paths removed.
    @discardableResult
    func commit(mirror: Bool = false) throws -> [String] {
        var removed: [String] = []
        if targetExisted {
            if mirror {
                let skip = (root as NSString).lastPathComponent
                try Self.removeExtra(in: RawPath(target), keeping: RawPath(root), skipping: skip, removed: &removed)
            }
            try Self.merge(RawPath(root), into: RawPath(target))
            rmdir(root)
        } else if rename(root, target) != 0 {
            throw fileSystemError("cannot move the restored files into place at", target)
        }
        return removed
    }

    /// Removes every entry of `destination` that `source` does not hold, and recurses into directories
    /// both hold; `skipping` (the temporary directory) is left alone.
    private static func removeExtra(in destination: RawPath, keeping source: RawPath, skipping: String?, removed: inout [String]) throws {
        guard let names = destination.directoryNames() else { throw fileSystemError("cannot list", destination.description) }
        for name in names {
            let there = destination.appending(name), kept = source.appending(name)
            if let skipping, there.description.hasSuffix("/" + skipping) { continue }
            guard let keptInfo = kept.linkStatus() else {
                do { try there.removeTree() } catch {
                    throw BackupError(.restoreFailed, "--mirror: cannot remove \(there), which the set does not hold: \(error)")
                }
                removed.append(there.description)
                continue
            }
            if keptInfo.st_mode & S_IFMT == S_IFDIR, let thereInfo = there.linkStatus(), thereInfo.st_mode & S_IFMT == S_IFDIR {
                try removeExtra(in: there, keeping: kept, skipping: nil, removed: &removed)
            }
        }
    }

    /// Removes the temporary directory and the parents made for it.
    func discard() {
        try? FileManager.default.removeItem(atPath: root)
        Self.removeEmpty(createdParents)
    }

    /// Works on names as bytes: an archive may hold names that are not UTF-8.
    private static func merge(_ source: RawPath, into destination: RawPath) throws {
        guard let names = source.directoryNames() else { throw fileSystemError("cannot list", source.description) }
        for name in names {
            let from = source.appending(name), to = destination.appending(name)
            guard let fromInfo = from.linkStatus() else { throw fileSystemError("cannot read", from.description) }
            if let toInfo = to.linkStatus() {
                let bothDirectories = fromInfo.st_mode & S_IFMT == S_IFDIR && toInfo.st_mode & S_IFMT == S_IFDIR
                if bothDirectories {
                    try merge(from, into: to)
                    _ = to.withCString { chmod($0, fromInfo.st_mode & 0o7777) }
                    var times = [fromInfo.st_atim, fromInfo.st_mtim]
                    _ = to.withCString { utimensat(AT_FDCWD, $0, &times, AT_SYMLINK_NOFOLLOW) }
                    _ = from.withCString(rmdir)
                    continue
                }
                // A file replaces a file or symlink in one rename; anything else is removed first.
                if fromInfo.st_mode & S_IFMT == S_IFDIR || toInfo.st_mode & S_IFMT == S_IFDIR {
                    do { try to.removeTree() } catch {
                        throw BackupError(.restoreFailed, "cannot replace \(to) with the restored entry: \(error)")
                    }
                }
            }
            let renamed = from.withCString { old in to.withCString { rename(old, $0) } }
            guard renamed == 0 else { throw fileSystemError("cannot move the restored entry into place at", to.description) }
        }
    }

    private static func removeEmpty(_ directories: [String]) {
        for directory in directories { rmdir(directory) }
    }

    private static func resolved(_ path: String) -> String? {
        guard let pointer = realpath(path, nil) else { return nil }
        defer { free(pointer) }
        return String(cString: pointer)
    }
}
