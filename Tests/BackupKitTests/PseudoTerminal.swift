import Foundation
import Glibc
import Synchronization

/// A pseudo-terminal to give a child as its stderr, so that it draws progress as on a person's
/// terminal. A thread reads everything the child writes into ``transcript`` until the child's side is
/// closed. Raw mode: the bytes arrive as written (no `\n` → `\r\n`).
final class PseudoTerminal: Sendable {
    private let master: Int32
    private let childSide: Int32
    private let output = Mutex<[UInt8]>([])
    private let ended = DispatchSemaphore(value: 0)

    init(columns: UInt16 = 120) throws {
        var (master, childSide): (Int32, Int32) = (-1, -1)
        guard openpty(&master, &childSide, nil, nil, nil) == 0 else { throw POSIXError(.init(rawValue: errno) ?? .EIO) }
        // Neither end may leak into another child a parallel test starts.
        _ = fcntl(master, F_SETFD, FD_CLOEXEC)
        _ = fcntl(childSide, F_SETFD, FD_CLOEXEC)
        (self.master, self.childSide) = (master, childSide)
        var mode = termios()
        tcgetattr(childSide, &mode)
        cfmakeraw(&mode)
        tcsetattr(childSide, TCSANOW, &mode)
        var size = winsize(ws_row: 40, ws_col: columns, ws_xpixel: 0, ws_ypixel: 0)
        _ = ioctl(childSide, UInt(TIOCSWINSZ), &size)
        Thread.detachNewThread { [self] in readToTheEnd() }
    }

    private func readToTheEnd() {
        var buffer = [UInt8](repeating: 0, count: 65536)
        while true {
            let count = buffer.withUnsafeMutableBytes { read(master, $0.baseAddress, $0.count) }
            if count > 0 {
                output.withLock { $0 += buffer[0..<count] }
            } else if count < 0 && errno == EINTR {
                continue
            } else {
                break  // EIO: every descriptor of the child's side is closed
            }
        }
        ended.signal()
    }

    /// The terminal side, for `Process.standardError`.
    var fileHandle: FileHandle { FileHandle(fileDescriptor: childSide, closeOnDealloc: false) }

    /// Closes this process's copy of the terminal side, once the child has its own.
    func closeChildSide() { close(childSide) }

    /// Everything the child wrote so far.
    var transcript: String { String(decoding: output.withLock { $0 }, as: UTF8.self) }

    /// Waits until the transcript satisfies `condition`.
    func wait(timeout: Double, until condition: (String) -> Bool) -> Bool {
        waitUntil(timeout: timeout) { condition(transcript) }
    }

    /// Waits until the child's side is closed everywhere (the child ended) and everything was read.
    func finish(timeout: Double = 30) -> String {
        _ = ended.wait(timeout: .now() + timeout)
        close(master)
        return transcript
    }
}

extension PseudoTerminal {
    /// Starts backupctl in `directory` with this terminal as its stderr; stdout goes to `stdout` (a file).
    func startBackupctl(_ arguments: [String], in directory: String, stdout: String) throws -> Process {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: backupctlPath)
        process.arguments = arguments
        process.currentDirectoryURL = URL(fileURLWithPath: directory)
        process.environment = ProcessInfo.processInfo.environment.filter { !$0.key.hasPrefix("BACKUP_") }
        _ = FileManager.default.createFile(atPath: stdout, contents: nil)
        process.standardOutput = try FileHandle(forWritingTo: URL(fileURLWithPath: stdout))
        process.standardError = fileHandle
        try process.run()
        closeChildSide()
        return process
    }

    /// Runs backupctl to its end with this terminal as its stderr; returns the exit status, stdout and
    /// the terminal's transcript.
    func runBackupctl(_ arguments: [String], in directory: String) throws -> (status: Int32, stdout: String, transcript: String) {
        let stdout = directory + "/stdout-\(UUID().uuidString.prefix(8))"
        let process = try startBackupctl(arguments, in: directory, stdout: stdout)
        process.waitUntilExit()
        let transcript = finish()
        defer { unlink(stdout) }
        return (process.terminationStatus, String(decoding: readFile(stdout) ?? [], as: UTF8.self), transcript)
    }
}
