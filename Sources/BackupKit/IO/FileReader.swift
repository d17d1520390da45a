import Glibc

/// A file opened for reading from the start, in chunks. It owns its descriptor and closes it in `deinit`.
public final class FileReader: ChunkReader {
    public let path: String
    let descriptor: Int32
    /// When set, every byte read also goes through this accumulator.
    package private(set) var digest: DigestAccumulator?

    public init(path: String, computeDigest: Bool = false) throws {
        self.path = path
        descriptor = open(path, O_RDONLY | O_CLOEXEC)
        guard descriptor >= 0 else { throw fileSystemError("cannot open", path) }
        digest = computeDigest ? DigestAccumulator() : nil
    }

    /// Reads up to `buffer.count` bytes; returns 0 at the end of the file.
    public func read(into buffer: UnsafeMutableRawBufferPointer) throws -> Int {
        while true {
            let count = Glibc.read(descriptor, buffer.baseAddress, buffer.count)
            if count >= 0 {
                if count > 0 { digest?.update(UnsafeRawBufferPointer(rebasing: buffer[0..<count])) }
                return count
            }
            if errno == EINTR { continue }
            throw fileSystemError("cannot read", path)
        }
    }

    deinit { close(descriptor) }
}

extension FileReader {
    /// Reads at an absolute offset without moving the file position (pread).
    public func read(into buffer: UnsafeMutableRawBufferPointer, at offset: Int64) throws -> Int {
        while true {
            let count = pread(descriptor, buffer.baseAddress, buffer.count, off_t(offset))
            if count >= 0 { return count }
            if errno == EINTR { continue }
            throw fileSystemError("cannot read", path)
        }
    }
}
