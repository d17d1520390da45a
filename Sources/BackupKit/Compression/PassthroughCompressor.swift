final class PassthroughCompressor: Compressor {
    let output: ByteOutput
    init(output: @escaping ByteOutput) { self.output = output }
    func write(_ bytes: UnsafeRawBufferPointer) throws { try output(bytes) }
    func finish() throws {}
}

final class PassthroughDecompressor: Decompressor {
    let input: ByteInput
    init(input: @escaping ByteInput) { self.input = input }
    func read(into buffer: UnsafeMutableRawBufferPointer) throws -> Int { try input(buffer) }
}
