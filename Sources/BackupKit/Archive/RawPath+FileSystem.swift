import Glibc

extension RawPath {
    /// The names in the directory at this path, as the bytes `readdir` gives, without `.` and `..`,
    /// sorted by their bytes so archives are reproducible; nil (with `errno` set) when it cannot be
    /// opened. Foundation's listings decode names and turn bytes that are not UTF-8 into U+FFFD.
    package func directoryNames() -> [RawPath]? {
        guard let directory = withCString(opendir) else { return nil }
        defer { closedir(directory) }
        var names: [RawPath] = []
        while let item = readdir(directory) {
            let name = withUnsafeBytes(of: item.pointee.d_name) { raw in Array(raw.prefix { $0 != 0 }) }
            if name == [46] || name == [46, 46] { continue }
            names.append(RawPath(bytes: name))
        }
        return names.sorted { $0.bytes.lexicographicallyPrecedes($1.bytes) }
    }

    /// The target of the symlink at this path, as its bytes.
    package func symlinkTarget() throws -> RawPath {
        var target = [UInt8](repeating: 0, count: Int(PATH_MAX) + 1)
        let count = withCString { readlink($0, &target, target.count) }
        guard count >= 0 else { throw BackupError(.sourceFailed, "cannot read the symlink \(self): \(String(cString: strerror(errno)))") }
        return RawPath(bytes: Array(target[0..<count]))
    }

    /// The `lstat` of this path, or nil (with `errno` set).
    package func linkStatus() -> stat? {
        var info = stat()
        return withCString { lstat($0, &info) } == 0 ? info : nil
    }

    /// Removes what is at this path, a directory with everything in it. Nothing there is no error.
    package func removeTree() throws {
        guard let info = linkStatus() else {
            if errno == ENOENT { return }
            throw fileSystemError("cannot read", description)
        }
        if info.st_mode & S_IFMT == S_IFDIR {
            guard let names = directoryNames() else { throw fileSystemError("cannot list", description) }
            for name in names { try appending(name).removeTree() }
            guard withCString(rmdir) == 0 else { throw fileSystemError("cannot remove", description) }
        } else {
            guard withCString(unlink) == 0 else { throw fileSystemError("cannot remove", description) }
        }
    }
}
