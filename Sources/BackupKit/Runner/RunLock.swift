import Foundation
import Glibc
import Synchronization

/// Only one run of a plan at a time: an exclusive `flock` on a lock file beside the local sink's files.
///
/// The kernel drops a `flock` when its process dies, so a lock left by a killed run never blocks the
/// next one. The file is removed on release; to stay correct when another process unlinks it while we
/// wait, acquisition checks that the locked descriptor is still the file at the path, and retries if not.
package final class RunLock: Sendable {
    public let path: String
    private let descriptor: Int32
    private let released = Atomic<Bool>(false)

    private init(path: String, descriptor: Int32) {
        self.path = path
        self.descriptor = descriptor
    }

    /// Takes the lock or throws ``BackupError/Code/locked`` at once, naming the holder.
    public static func acquire(path: String, plan: String) throws -> RunLock {
        let directory = splitPath(path).directory
        try makeDirectory(directory, purpose: "the state directory (for the lock)")
        for _ in 0..<10 {
            let fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0o600)
            guard fd >= 0 else { throw fileSystemError("cannot open the lock file", path) }
            if flock(fd, LOCK_EX | LOCK_NB) != 0 {
                let code = errno
                let holder = readHolder(fd)
                close(fd)
                if code == EWOULDBLOCK {
                    throw BackupError(.locked, "another run of plan '\(plan)' is in progress\(holder.map { " (\($0))" } ?? ""); this one stops without changing anything. The lock is \(path); it is released when that process ends.")
                }
                throw fileSystemError("cannot lock", path, errno: code)
            }
            var opened = stat(), current = stat()
            if fstat(fd, &opened) == 0, stat(path, &current) == 0, opened.st_ino == current.st_ino, opened.st_dev == current.st_dev {
                let info = "pid \(getpid()) since \(SetTimestamp(Date()).iso8601)\n"
                ftruncate(fd, 0)
                _ = info.withCString { pwrite(fd, $0, strlen($0), 0) }
                return RunLock(path: path, descriptor: fd)
            }
            close(fd)  // The file was replaced while we waited; lock the new one.
        }
        throw BackupError(.locked, "cannot take the lock \(path): it keeps being replaced")
    }

    private static func readHolder(_ fd: Int32) -> String? {
        var buffer = [UInt8](repeating: 0, count: 200)
        let count = pread(fd, &buffer, buffer.count, 0)
        guard count > 0 else { return nil }
        return String(decoding: buffer[0..<count], as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)
    }

    /// Removes the lock file and releases the lock. Safe to call more than once.
    public func release() {
        guard !released.exchange(true, ordering: .acquiringAndReleasing) else { return }
        unlink(path)
        close(descriptor)
    }

    deinit { release() }
}
