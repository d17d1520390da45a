import Foundation
import Glibc

/// A file being written while another thread reads it back: the writer says how far it got, and the
/// reader (``TrailingFileReader``) waits for more instead of taking the current end for the end.
final class GrowingFile: @unchecked Sendable {
    private let condition = NSCondition()
    private var length: Int64 = 0
    private var path: String?
    private var finalPath: String?
    private var state = State.growing

    private enum State { case growing, complete, abandoned }

    /// The file exists at `path` (its temporary name, renamed to `finalPath` when it is complete), still empty.
    func began(at path: String, final finalPath: String) {
        condition.withLock {
            self.path = path
            self.finalPath = finalPath
            condition.broadcast()
        }
    }

    /// Waits until the writer has created the file; returns its paths. Throws when the writer gave up.
    func waitForPath() throws -> (temporary: String, final: String) {
        try condition.withLock {
            while path == nil && state == .growing { condition.wait() }
            guard let path, let finalPath else { throw CancellationError() }
            return (path, finalPath)
        }
    }

    /// `count` more bytes are in the file.
    func grew(by count: Int) {
        condition.withLock {
            length += Int64(count)
            condition.broadcast()
        }
    }

    /// The file holds everything it will hold.
    func complete() {
        condition.withLock {
            if state == .growing { state = .complete }
            condition.broadcast()
        }
    }

    /// The writer failed or stopped: a reader waiting for more gets an error.
    func abandon() {
        condition.withLock {
            if state == .growing { state = .abandoned }
            condition.broadcast()
        }
    }

    /// How many bytes the file holds so far, and whether that is all.
    var written: (bytes: Int64, complete: Bool) {
        condition.withLock { (length, state == .complete) }
    }

    /// Waits until the file holds more than `offset` bytes or is complete; returns its length then and
    /// whether it is complete. Throws when the writer gave up.
    func wait(beyond offset: Int64) throws -> (length: Int64, complete: Bool) {
        try condition.withLock {
            while length <= offset && state == .growing { condition.wait() }
            if state == .abandoned { throw CancellationError() }
            return (length, state == .complete)
        }
    }
}

/// Reads a ``GrowingFile`` from its start, as its bytes arrive, to its end: every byte the writer
/// wrote, read back from the file system, with the size and CRC-32 of what it read.
final class TrailingFileReader: ChunkReader {
    private let growth: GrowingFile
    private var path = ""
    private var descriptor: Int32 = -1
    private var offset: Int64 = 0
    /// The size and CRC-32 of what was read so far.
    private(set) var checksum = CRC32Accumulator()

    init(growth: GrowingFile) {
        self.growth = growth
    }

    deinit { if descriptor >= 0 { close(descriptor) } }

    func read(into buffer: UnsafeMutableRawBufferPointer) throws -> Int {
        if descriptor < 0 {
            // Opened under the temporary name before the writer renames it: the descriptor stays valid.
            let paths = try growth.waitForPath()
            path = paths.temporary
            descriptor = open(path, O_RDONLY | O_CLOEXEC)
            if descriptor < 0 && errno == ENOENT {
                // A small file may be complete and renamed before this reader starts.
                path = paths.final
                descriptor = open(path, O_RDONLY | O_CLOEXEC)
            }
            guard descriptor >= 0 else { throw fileSystemError("cannot open", path) }
        }
        while true {
            let (length, complete) = try growth.wait(beyond: offset)
            if offset < length {
                let wanted = Int(min(Int64(buffer.count), length - offset))
                let count = pread(descriptor, buffer.baseAddress, wanted, off_t(offset))
                if count < 0 {
                    if errno == EINTR { continue }
                    throw fileSystemError("cannot read", path)
                }
                guard count > 0 else {
                    throw BackupError(.verificationFailed, "\(path) holds \(offset) bytes, but \(length) were written to it")
                }
                offset += Int64(count)
                checksum.update(UnsafeRawBufferPointer(rebasing: buffer[0..<count]))
                return count
            }
            if complete { return 0 }
        }
    }
}
