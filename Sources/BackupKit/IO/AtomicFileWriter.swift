import CSystemShims
import Glibc

/// Writes a new file under a temporary name in the destination's directory, and gives it its final name
/// only in ``commit()``: after `fsync` of the file, `rename`, and `fsync` of the directory. Until then,
/// and if the writer is dropped without a commit, the final name never shows a partial file; `deinit`
/// removes the temporary file. A process killed mid-write leaves only a hidden `.<name>.tmp-*` file.
public final class AtomicFileWriter {
    public let finalPath: String
    public let temporaryPath: String
    private var descriptor: Int32
    private var digest: DigestAccumulator?
    private var committed = false
    public private(set) var bytesWritten: Int64 = 0
    /// Where the kernel was last asked to start writing the file out (``startWriteback()``).
    private var writebackStarted: Int64 = 0

    /// How much is written between two requests to start writeback.
    static let writebackStep: Int64 = 8 << 20

    /// The prefix every temporary file name starts with, so leftovers can be recognised and removed.
    public static func isTemporaryName(_ name: String) -> Bool {
        name.hasPrefix(".") && name.contains(".tmp-")
    }

    public init(finalPath: String, mode: mode_t = 0o600, computeDigest: Bool = true) throws {
        self.finalPath = finalPath
        let (directory, name) = splitPath(finalPath)
        var attempt = 0
        while true {
            let candidate = "\(directory)/.\(name).tmp-\(String(UInt32.random(in: .min ... .max), radix: 36))"
            let fd = open(candidate, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, mode)
            if fd >= 0 {
                // The umask must not widen or narrow what we asked for: archives are 0600, always.
                fchmod(fd, mode)
                descriptor = fd
                temporaryPath = candidate
                break
            }
            if errno == EEXIST, attempt < 8 { attempt += 1; continue }
            throw fileSystemError("cannot create", candidate)
        }
        digest = computeDigest ? DigestAccumulator() : nil
    }

    /// Appends all of `bytes`, retrying short writes.
    public func write(_ bytes: UnsafeRawBufferPointer) throws {
        precondition(descriptor >= 0, "write after finish")
        var offset = 0
        while offset < bytes.count {
            let count = Glibc.write(descriptor, bytes.baseAddress! + offset, bytes.count - offset)
            if count < 0 {
                if errno == EINTR { continue }
                throw fileSystemError("cannot write", temporaryPath)
            }
            offset += count
        }
        digest?.update(bytes)
        bytesWritten += Int64(bytes.count)
        if bytesWritten - writebackStarted >= Self.writebackStep { startWriteback() }
    }

    /// Asks the kernel to start writing what was written so far to disk, without waiting for it, so
    /// that the `fsync` at the end has little left to do: a large artifact would otherwise wait there
    /// half a second a gigabyte, after the last byte. `fsync` stays the only promise; an error here
    /// changes nothing (a file system without the call just flushes it all at the end).
    private func startWriteback() {
        _ = bk_start_writeback(descriptor, writebackStarted, bytesWritten - writebackStarted)
        writebackStarted = bytesWritten
    }

    /// Flushes the data to disk and closes the file, still under its temporary name.
    @discardableResult
    public func finishWriting() throws -> FileDigest? {
        if descriptor >= 0 {
            let fd = descriptor
            descriptor = -1
            if fsync(fd) != 0 {
                let code = errno
                close(fd)
                throw fileSystemError("cannot flush", temporaryPath, errno: code)
            }
            if close(fd) != 0 { throw fileSystemError("cannot close", temporaryPath) }
        }
        return digest?.finalize()
    }

    /// Gives the file its final name, replacing any file already there, and makes the rename durable.
    public func commit() throws {
        try finishWriting()
        guard rename(temporaryPath, finalPath) == 0 else { throw fileSystemError("cannot rename to", finalPath) }
        committed = true
        try syncDirectory(splitPath(finalPath).directory)
    }

    /// Gives the file its final name only when no file has it (a hard link, then the temporary name
    /// removed): for keys, which are never replaced.
    public func commitNew() throws {
        try finishWriting()
        guard link(temporaryPath, finalPath) == 0 else {
            if errno == EEXIST {
                throw BackupError(.usage, "\(finalPath) exists: it is never overwritten; choose another name")
            }
            throw fileSystemError("cannot create", finalPath)
        }
        try syncDirectory(splitPath(finalPath).directory)
    }

    /// Writes `bytes` as a new file at `path`, failing when one exists there.
    public static func writeNew(_ bytes: [UInt8], to path: String, mode: mode_t = 0o600) throws {
        let writer = try AtomicFileWriter(finalPath: path, mode: mode)
        try bytes.withUnsafeBytes { try writer.write($0) }
        try writer.commitNew()
    }

    deinit {
        if descriptor >= 0 { close(descriptor) }
        if !committed { unlink(temporaryPath) }
    }

    /// Writes `bytes` as the whole file at `path` (temporary name, fsync, rename); returns its size
    /// and SHA-256.
    @discardableResult
    public static func write(_ bytes: [UInt8], to path: String, mode: mode_t = 0o600) throws -> FileDigest {
        let writer = try AtomicFileWriter(finalPath: path, mode: mode)
        try bytes.withUnsafeBytes { try writer.write($0) }
        let digest = try writer.finishWriting()!
        try writer.commit()
        return digest
    }
}

/// `fsync` on a directory, so that a rename or unlink in it survives a crash.
package func syncDirectory(_ path: String) throws {
    let fd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC)
    guard fd >= 0 else { throw fileSystemError("cannot open directory", path) }
    defer { close(fd) }
    guard fsync(fd) == 0 else { throw fileSystemError("cannot flush directory", path) }
}

/// Splits "/a/b/c" into ("/a/b", "c"), and "c" into (".", "c").
func splitPath(_ path: String) -> (directory: String, name: String) {
    guard let slash = path.lastIndex(of: "/") else { return (".", path) }
    let directory = slash == path.startIndex ? "/" : String(path[..<slash])
    return (directory, String(path[path.index(after: slash)...]))
}
