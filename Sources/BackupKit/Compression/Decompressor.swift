/// A decompression stage, pulled by its reader. It throws when the stream is corrupt or truncated.
protocol Decompressor: AnyObject {
    /// Fills `buffer` with decompressed bytes; returns 0 only at the verified end of the stream.
    func read(into buffer: UnsafeMutableRawBufferPointer) throws -> Int
}
