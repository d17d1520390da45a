import BackupKit
import Foundation
import Glibc

/// Keeps artifacts as files in a directory on this host, `./backups` by default as in the design
/// document. Files are mode 0600; a directory the sink creates is mode 0700.
///
/// A put reaches its final name only by `rename` after `fsync`: when the staged file is on the same file
/// system (the default, since staging lives in `.staging` inside this directory) it is hard-linked under
/// a temporary name and renamed, so nothing is copied; otherwise it is copied to a temporary name,
/// flushed and renamed. Names starting with `.` (temporary files, staging, the lock) are never listed.
///
/// ```yaml
/// sinks:
///   - { name: local, type: local, path: ./backups }
/// ```
public struct LocalSink: Sink {
    /// The plan file's `type:` for this sink.
    public static let typeName = "local"

    public struct Configuration: Sendable, Hashable, Codable {
        /// The directory. Relative paths are relative to the plan file. Default `./backups`.
        public var path: String

        public init(path: String = "./backups") { self.path = path }

        enum CodingKeys: String, CodingKey, CaseIterable { case path }

        public init(from decoder: any Decoder) throws {
            let container = try decoder.strictContainer(keyedBy: CodingKeys.self, alsoAllowed: PlanKeys.sink)
            path = try container.decodeIfPresent(String.self, forKey: .path) ?? "./backups"
            if path.trimmingCharacters(in: .whitespaces).isEmpty {
                throw invalidValue(.path, in: container, "the path is empty; give the directory for the backups, such as ./backups (is the variable it comes from set?)")
            }
        }
    }

    public let name: String
    /// The absolute directory.
    public let directory: String

    /// The clock that decides when a leftover temporary file is a day old; tests move it.
    let now: @Sendable () -> Date

    public init(name: String = "local", directory: String) {
        self.init(name: name, directory: directory, now: { Date() })
    }

    package init(name: String = "local", directory: String, now: @escaping @Sendable () -> Date) {
        self.name = name
        self.directory = directory.count > 1 && directory.hasSuffix("/") ? String(directory.dropLast()) : directory
        self.now = now
    }

    public var capabilities: SinkCapabilities { SinkCapabilities(boundedMemory: true, localDirectory: directory) }

    public func localPath(of key: String) -> String? {
        (try? validate(key)).map { directory + "/" + key }
    }

    @discardableResult
    public func put(_ key: String, from file: StagedFile) async throws -> StoreReceipt {
        try validate(key)
        let directory = directory
        return try await runBlocking {
            try ensureDirectory(directory)
            let finalPath = directory + "/" + key
            var info = stat()
            guard stat(file.path, &info) == 0 else { throw fileSystemError("cannot read the staged file", file.path) }
            let stagedSize = file.encryption?.plaintextSize ?? file.digest.size
            guard Int64(info.st_size) == stagedSize else {
                throw BackupError(.io, "the staged file \(file.path) is \(info.st_size) bytes, not the \(stagedSize) it was written with")
            }
            // An encrypted copy is made while it is read; only a plaintext one can be the staged file itself.
            if file.encryption == nil, try linkIntoPlace(file.path, finalPath) { return StoreReceipt(checks: ["size", "same-file"]) }
            try copyIntoPlace(file, finalPath)
            return StoreReceipt(checks: ["size"])
        }
    }

    public func get(_ key: String, into output: ByteDestination) async throws {
        try validate(key)
        let path = directory + "/" + key
        try await runBlocking {
            let reader: FileReader
            do {
                reader = try FileReader(path: path)
            } catch let error as BackupError where error.code == .notFound {
                throw BackupError(.notFound, "local sink '\(name)' has no \(key)")
            }
            try reader.forEachChunk { try output.write($0) }
        }
    }

    /// Lists the directory's artifacts and manifests. On the way it removes its own temporary files
    /// (``AtomicFileWriter``'s) older than a day: a run killed in the middle of a put leaves one, and a
    /// day later it cannot belong to a put still going.
    public func list() async throws -> [StoredObject] {
        let directory = directory, now = now().timeIntervalSince1970
        return try await runBlocking {
            guard let handle = opendir(directory) else {
                if errno == ENOENT { return [] }
                throw fileSystemError("local sink: cannot list", directory, as: .sinkFailed)
            }
            defer { closedir(handle) }
            var objects: [StoredObject] = []
            while let item = readdir(handle) {
                let bytes = withUnsafeBytes(of: item.pointee.d_name) { Array($0.prefix { $0 != 0 }) }
                guard let name = String(validating: bytes, as: UTF8.self) else { continue }
                if AtomicFileWriter.isTemporaryName(name) {
                    Self.removeIfStale(directory + "/" + name, now: now)
                    continue
                }
                guard !name.hasPrefix(".") else { continue }
                var info = stat()
                guard lstat(directory + "/" + name, &info) == 0, (info.st_mode & S_IFMT) == S_IFREG else { continue }
                let modified = Date(timeIntervalSince1970: TimeInterval(info.st_mtim.tv_sec))
                objects.append(StoredObject(key: name, size: Int64(info.st_size), modified: modified))
            }
            return objects
        }
    }

    /// Removes a leftover temporary file last changed more than a day ago. Its ctime counts too: a put
    /// that hard-links a staged file into place makes a temporary name with the staged file's old mtime.
    static func removeIfStale(_ path: String, now: TimeInterval) {
        var info = stat()
        guard lstat(path, &info) == 0, (info.st_mode & S_IFMT) == S_IFREG else { return }
        let changed = max(info.st_mtim.tv_sec, info.st_ctim.tv_sec)
        if now - TimeInterval(changed) > 86400 { unlink(path) }
    }

    /// Makes the directory when it is missing, then checks that it can be listed and written: a probe
    /// file under a temporary name (which ``list()`` leaves out) is created and removed.
    public func preflight() async throws {
        let directory = directory, name = name
        try await runBlocking {
            try ensureDirectory(directory)
            guard let handle = opendir(directory) else {
                throw fileSystemError("local sink '\(name)': cannot list", directory, as: .sinkFailed)
            }
            closedir(handle)
            let probe = "\(directory)/.backupctl-preflight.tmp-\(String(UInt32.random(in: .min ... .max), radix: 36))"
            let fd = open(probe, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0o600)
            guard fd >= 0 else { throw fileSystemError("local sink '\(name)': cannot write in", directory, as: .sinkFailed) }
            close(fd)
            unlink(probe)
        }
    }

    public func delete(_ key: String) async throws {
        try validate(key)
        let directory = directory
        try await runBlocking {
            guard unlink(directory + "/" + key) == 0 else {
                if errno == ENOENT { throw BackupError(.notFound, "local sink has no \(key)") }
                throw fileSystemError("local sink: cannot delete", "\(directory)/\(key)", as: .sinkFailed)
            }
            try syncDirectory(directory)
        }
    }

    private func validate(_ key: String) throws {
        guard !key.isEmpty, !key.contains("/"), !key.hasPrefix("."), key != ".." else {
            throw BackupError(.usage, "'\(key)' is not a valid artifact key (no slashes, no leading dot)")
        }
    }
}

/// Creates the sink directory with mode 0700 if it does not exist.
private func ensureDirectory(_ directory: String) throws {
    var info = stat()
    if stat(directory, &info) == 0 {
        guard (info.st_mode & S_IFMT) == S_IFDIR else {
            throw BackupError(.sinkFailed, "local sink path \(directory) exists and is not a directory; give a directory for the backups")
        }
        return
    }
    try makeDirectory(directory, purpose: "the local sink directory", as: .sinkFailed)
}

/// Hard-links the staged file under a temporary name and renames it into place. Returns false when the
/// two paths are on different file systems (or links are not supported), so the caller copies instead.
private func linkIntoPlace(_ source: String, _ finalPath: String) throws -> Bool {
    let (directory, name) = (String(finalPath[..<finalPath.lastIndex(of: "/")!]), String(finalPath[finalPath.index(after: finalPath.lastIndex(of: "/")!)...]))
    let temporary = "\(directory)/.\(name).tmp-\(String(UInt32.random(in: .min ... .max), radix: 36))"
    guard link(source, temporary) == 0 else {
        if [EXDEV, EPERM, EMLINK, ENOTSUP].contains(errno) { return false }
        throw fileSystemError("local sink: cannot link \(source) to", temporary, as: .sinkFailed)
    }
    guard rename(temporary, finalPath) == 0 else {
        let code = errno
        unlink(temporary)
        throw fileSystemError("local sink: cannot rename to", finalPath, errno: code, as: .sinkFailed)
    }
    try syncDirectory(directory)
    return true
}

/// Copies the staged file to a temporary name, checks its length, flushes, and renames it into place.
private func copyIntoPlace(_ file: StagedFile, _ finalPath: String) throws {
    let writer = try AtomicFileWriter(finalPath: finalPath, mode: 0o600, computeDigest: false)
    try file.open().forEachChunk { try writer.write($0) }
    guard writer.bytesWritten == file.digest.size else {
        throw BackupError(.io, "the staged file \(file.path) held \(writer.bytesWritten) bytes, not the \(file.digest.size) it was written with")
    }
    try writer.commit()
}
