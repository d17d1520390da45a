/// Something read front to back in chunks: a file (``FileReader``) or an archive entry's content
/// (``ArchiveReader``).
public protocol ChunkReader: AnyObject {
    /// Reads up to `buffer.count` bytes; 0 at the end.
    func read(into buffer: UnsafeMutableRawBufferPointer) throws -> Int
}

extension ChunkReader {
    /// Reads to the end, handing each chunk to `body` (through one buffer of `bufferSize` bytes).
    /// Returns the number of bytes read.
    @discardableResult
    public func forEachChunk(bufferSize: Int = 1 << 20, _ body: (UnsafeRawBufferPointer) throws -> Void) throws -> Int64 {
        let buffer = UnsafeMutableRawBufferPointer.allocate(byteCount: bufferSize, alignment: 16)
        defer { buffer.deallocate() }
        var total: Int64 = 0
        while true {
            let count = try read(into: buffer)
            if count == 0 { return total }
            try body(UnsafeRawBufferPointer(rebasing: buffer[0..<count]))
            total += Int64(count)
        }
    }
}
