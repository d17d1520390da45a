import CZlib

/// gzip on one thread through zlib, in a few hundred KiB: for small streams written beside a large
/// one (an incremental set's index beside its packs), where ``ParallelGzipCompressor``'s batches of
/// blocks would cost more memory than the stream is long. Its output is one gzip member like any other.
final class SerialGzipCompressor: Compressor {
    private let output: ByteOutput
    private var stream = z_stream()
    private let buffer: UnsafeMutableRawBufferPointer
    private var finished = false

    init(level: Int, output: @escaping ByteOutput) throws {
        self.output = output
        buffer = .allocate(byteCount: 1 << 16, alignment: 16)
        let status = bk_deflate_init_gzip(&stream, Int32(level))
        guard status == Z_OK else {
            buffer.deallocate()
            throw BackupError(.archive, "zlib: cannot start a gzip stream (\(status))")
        }
    }

    deinit {
        deflateEnd(&stream)
        buffer.deallocate()
    }

    func write(_ bytes: UnsafeRawBufferPointer) throws {
        guard !bytes.isEmpty else { return }
        try deflate(bytes, flush: Z_NO_FLUSH)
    }

    func finish() throws {
        guard !finished else { return }
        finished = true
        try deflate(UnsafeRawBufferPointer(start: nil, count: 0), flush: Z_FINISH)
    }

    private func deflate(_ bytes: UnsafeRawBufferPointer, flush: Int32) throws {
        stream.next_in = UnsafeMutablePointer(mutating: bytes.baseAddress?.assumingMemoryBound(to: Bytef.self))
        stream.avail_in = uInt(bytes.count)
        while true {
            stream.next_out = buffer.baseAddress!.assumingMemoryBound(to: Bytef.self)
            stream.avail_out = uInt(buffer.count)
            let status = CZlib.deflate(&stream, flush)
            guard status == Z_OK || status == Z_STREAM_END || status == Z_BUF_ERROR else {
                throw BackupError(.archive, "zlib: deflate failed (\(status))")
            }
            let produced = buffer.count - Int(stream.avail_out)
            if produced > 0 { try output(UnsafeRawBufferPointer(rebasing: buffer[0..<produced])) }
            if flush == Z_FINISH {
                if status == Z_STREAM_END { return }
            } else if stream.avail_in == 0 && stream.avail_out > 0 {
                return
            }
        }
    }
}
