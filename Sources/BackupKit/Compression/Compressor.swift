/// A compression stage: bytes written to it come out compressed through its output.
protocol Compressor: AnyObject {
    func write(_ bytes: UnsafeRawBufferPointer) throws
    /// Compresses what is buffered and ends the stream. Call once.
    func finish() throws
}
