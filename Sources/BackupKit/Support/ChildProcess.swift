import CSystemShims
import Foundation
import Glibc
import Synchronization

/// A child process with pipes, for tools such as `pg_dump`, `psql` and hook commands.
///
/// Secrets never go on its command line: pass them through `environment` (or a file the environment
/// names). Standard error is captured in the background (the last 64 KiB) so the child never blocks on
/// it, and is available as ``stderrText`` for reports (redact it before showing it). The child runs in a
/// process group of its own, so ``terminate()`` also stops what it started. Dropping the object kills a
/// child that is still running.
package final class ChildProcess {
    public enum Input { case null, pipe }
    public enum Output { case null, pipe }

    public let executable: String
    public let processID: pid_t
    private var stdinDescriptor: Int32 = -1
    private var stdoutDescriptor: Int32 = -1
    private let stderrCapture: StderrCapture
    private var exitStatus: Int32?

    /// Starts `executable` (an absolute path, or a name looked up in PATH) with exactly `environment`.
    public init(executable: String, arguments: [String], environment: [String: String],
                stdin: Input = .null, stdout: Output = .pipe) throws {
        ignoreBrokenPipes()
        guard let path = Self.resolve(executable, path: environment["PATH"] ?? ProcessInfo.processInfo.environment["PATH"]) else {
            throw BackupError(.sourceFailed, "cannot find the program '\(executable)'. Install it or give its full path.")
        }
        self.executable = path
        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        var attributes = posix_spawnattr_t()
        posix_spawnattr_init(&attributes)
        defer { posix_spawnattr_destroy(&attributes) }
        posix_spawnattr_setflags(&attributes, Int16(POSIX_SPAWN_SETPGROUP | POSIX_SPAWN_SETSIGDEF | POSIX_SPAWN_SETSIGMASK))
        posix_spawnattr_setpgroup(&attributes, 0)
        var defaults = sigset_t()
        sigemptyset(&defaults)
        sigaddset(&defaults, SIGPIPE)
        posix_spawnattr_setsigdefault(&attributes, &defaults)
        var emptyMask = sigset_t()
        sigemptyset(&emptyMask)
        posix_spawnattr_setsigmask(&attributes, &emptyMask)

        var childEnds: [Int32] = []
        defer { childEnds.forEach { close($0) } }
        switch stdin {
        case .null: posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0)
        case .pipe:
            let (read, write) = try Self.makePipe()
            posix_spawn_file_actions_adddup2(&actions, read, 0)
            childEnds.append(read)
            stdinDescriptor = write
        }
        switch stdout {
        case .null: posix_spawn_file_actions_addopen(&actions, 1, "/dev/null", O_WRONLY, 0)
        case .pipe:
            let (read, write) = try Self.makePipe()
            // 1 MiB instead of 64 KiB (the most an unprivileged process may ask): a dump tool writes
            // ahead while the compression stage is busy, instead of stopping at each full pipe. Where
            // the kernel refuses, the pipe keeps its size.
            _ = bk_set_pipe_size(read, 1 << 20)
            posix_spawn_file_actions_adddup2(&actions, write, 1)
            childEnds.append(write)
            stdoutDescriptor = read
        }
        let (errRead, errWrite) = try Self.makePipe()
        posix_spawn_file_actions_adddup2(&actions, errWrite, 2)
        childEnds.append(errWrite)
        // Last, after the dup2s onto 0-2: nothing else the parent inherited reaches the child (a server
        // it starts would otherwise hold it open for as long as it runs).
        _ = bk_spawn_close_inherited(&actions)

        let argv = ([path] + arguments).map { strdup($0) } + [nil]
        let envp = environment.map { strdup("\($0.key)=\($0.value)") } + [nil]
        defer {
            argv.forEach { free($0) }
            envp.forEach { free($0) }
        }
        var pid: pid_t = 0
        let status = posix_spawn(&pid, path, &actions, &attributes, argv, envp)
        guard status == 0 else {
            close(errRead)
            if stdinDescriptor >= 0 { close(stdinDescriptor) }
            if stdoutDescriptor >= 0 { close(stdoutDescriptor) }
            throw BackupError(.sourceFailed, "cannot start \(path): \(String(cString: strerror(status)))")
        }
        processID = pid
        stderrCapture = StderrCapture(descriptor: errRead)
    }

    deinit {
        if exitStatus == nil {
            kill(-processID, SIGKILL)
            var status: Int32 = 0
            waitpid(processID, &status, 0)
        }
        if stdinDescriptor >= 0 { close(stdinDescriptor) }
        if stdoutDescriptor >= 0 { close(stdoutDescriptor) }
        stderrCapture.finish()
    }

    /// The descriptor of the child's standard output, for `poll`.
    public var outputDescriptor: Int32 { stdoutDescriptor }

    /// Reads from the child's standard output; 0 at its end.
    public func readOutput(into buffer: UnsafeMutableRawBufferPointer) throws -> Int {
        while true {
            let count = Glibc.read(stdoutDescriptor, buffer.baseAddress, buffer.count)
            if count >= 0 { return count }
            if errno == EINTR { continue }
            throw BackupError(.io, "cannot read the output of \(executable): \(String(cString: strerror(errno)))")
        }
    }

    /// Writes all of `bytes` to the child's standard input.
    public func writeInput(_ bytes: UnsafeRawBufferPointer) throws {
        var offset = 0
        while offset < bytes.count {
            let count = write(stdinDescriptor, bytes.baseAddress! + offset, bytes.count - offset)
            if count < 0 {
                if errno == EINTR { continue }
                if errno == EPIPE {
                    throw BackupError(.io, "\(executable) stopped reading its input: \(stderrText.trimmingCharacters(in: .whitespacesAndNewlines))")
                }
                throw BackupError(.io, "cannot write to \(executable): \(String(cString: strerror(errno)))")
            }
            offset += count
        }
    }

    /// Closes the child's standard input, so it sees the end of its input.
    public func closeInput() {
        if stdinDescriptor >= 0 { close(stdinDescriptor) }
        stdinDescriptor = -1
    }

    /// Waits for the child to exit. Returns its exit code, or 128 + the signal that ended it.
    @discardableResult
    public func wait(timeout: Double? = nil) throws -> Int32 {
        if let exitStatus { return exitStatus }
        closeInput()
        let deadline = timeout.map { Date().addingTimeInterval($0) }
        var status: Int32 = 0
        while true {
            let result = waitpid(processID, &status, deadline == nil ? 0 : WNOHANG)
            if result == processID { break }
            if result < 0 && errno != EINTR { throw BackupError(.io, "cannot wait for \(executable): \(String(cString: strerror(errno)))") }
            if let deadline, Date() >= deadline {
                terminate()
                throw BackupError(.io, "\(executable) did not finish within \(formatDuration(timeout!)) and was stopped")
            }
            if deadline != nil { usleep(20_000) }
        }
        stderrCapture.finish()
        let code: Int32 = (status & 0x7f) == 0 ? (status >> 8) & 0xff : 128 + (status & 0x7f)
        exitStatus = code
        return code
    }

    /// Stops the child and everything it started: SIGTERM, then SIGKILL after two seconds.
    public func terminate() {
        guard exitStatus == nil else { return }
        kill(-processID, SIGTERM)
        for _ in 0..<100 {
            var status: Int32 = 0
            if waitpid(processID, &status, WNOHANG) == processID {
                exitStatus = 128 + SIGTERM
                return
            }
            usleep(20_000)
        }
        kill(-processID, SIGKILL)
        var status: Int32 = 0
        waitpid(processID, &status, 0)
        exitStatus = 128 + SIGKILL
    }

    /// The end of what the child wrote to standard error (up to 64 KiB).
    public var stderrText: String { stderrCapture.text }

    private static func makePipe() throws -> (Int32, Int32) {
        var fds: [Int32] = [0, 0]
        guard bk_pipe_cloexec(&fds) == 0 else { throw BackupError(.io, "cannot create a pipe: \(String(cString: strerror(errno)))") }
        return (fds[0], fds[1])
    }

    static func resolve(_ name: String, path: String?) -> String? {
        if name.contains("/") { return access(name, X_OK) == 0 ? name : nil }
        for directory in (path ?? "/usr/bin:/bin").split(separator: ":") {
            let candidate = "\(directory)/\(name)"
            if access(candidate, X_OK) == 0 { return candidate }
        }
        return nil
    }

}

/// A write to a pipe or socket whose reader died must fail with EPIPE, not kill this process: a child
/// that exits early, or a server that closes a TLS connection (libcurl runs with CURLOPT_NOSIGNAL, so it
/// does not ignore SIGPIPE itself). Called before the first child and the first transfer.
package func ignoreBrokenPipes() { _ = brokenPipesIgnored }

private let brokenPipesIgnored: Void = { signal(SIGPIPE, SIG_IGN) }()

extension ChildProcess: ChunkReader {
    /// The child's standard output, for ``ChunkReader/forEachChunk(bufferSize:_:)``.
    public func read(into buffer: UnsafeMutableRawBufferPointer) throws -> Int { try readOutput(into: buffer) }
}

/// Reads a child's standard error on a thread of its own, keeping the last 64 KiB.
private final class StderrCapture: Sendable {
    private let state = Mutex<(bytes: [UInt8], done: Bool)>(([], false))
    private let finished = DispatchSemaphore(value: 0)
    private let descriptor: Int32

    init(descriptor: Int32) {
        self.descriptor = descriptor
        Thread.detachNewThread { [self] in
            var buffer = [UInt8](repeating: 0, count: 8192)
            while true {
                let count = read(descriptor, &buffer, buffer.count)
                if count < 0 && errno == EINTR { continue }
                if count <= 0 { break }
                state.withLock {
                    $0.bytes.append(contentsOf: buffer[0..<count])
                    if $0.bytes.count > 65536 { $0.bytes.removeFirst($0.bytes.count - 65536) }
                }
            }
            close(descriptor)
            finished.signal()
        }
    }

    /// Waits, once, until the child's stderr is closed. A background process the child left behind can
    /// hold it open for ever, so the wait ends after two seconds and the reader is left to finish alone.
    func finish() {
        let first = state.withLock { state -> Bool in
            defer { state.done = true }
            return !state.done
        }
        if first { _ = finished.wait(timeout: .now() + 2) }
    }

    var text: String { String(decoding: state.withLock { $0.bytes }, as: UTF8.self) }
}
