import CZstd

/// Reads zstd frames. The stream is complete only when the last frame was fully decoded and its
/// checksum matched; a stream that stops earlier is reported as truncated.
final class ZstdDecompressor: Decompressor {
    private let context: OpaquePointer
    private let input: ByteInput
    private let inputBuffer: UnsafeMutableRawBufferPointer
    private var pending = ZSTD_inBuffer(src: nil, size: 0, pos: 0)
    private var atEndOfInput = false
    private var frameComplete = true
    private var sawInput = false

    init(input: @escaping ByteInput) throws {
        guard let context = ZSTD_createDCtx() else { throw BackupError(.archive, "zstd: cannot create a decompression context") }
        self.context = context
        self.input = input
        inputBuffer = .allocate(byteCount: ZSTD_DStreamInSize(), alignment: 16)
    }

    deinit {
        ZSTD_freeDCtx(context)
        inputBuffer.deallocate()
    }

    func read(into buffer: UnsafeMutableRawBufferPointer) throws -> Int {
        while true {
            if pending.pos == pending.size, !atEndOfInput {
                let count = try input(inputBuffer)
                if count == 0 {
                    atEndOfInput = true
                } else {
                    sawInput = true
                    pending = ZSTD_inBuffer(src: UnsafeRawPointer(inputBuffer.baseAddress), size: count, pos: 0)
                }
            }
            if pending.pos == pending.size, atEndOfInput {
                guard sawInput else { throw corruptStream("zstd stream is empty") }
                guard frameComplete else { throw corruptStream("zstd stream is truncated: the last frame is incomplete") }
                return 0
            }
            var out = ZSTD_outBuffer(dst: buffer.baseAddress, size: buffer.count, pos: 0)
            let hint = ZSTD_decompressStream(context, &out, &pending)
            if ZSTD_isError(hint) != 0 {
                throw corruptStream("zstd stream is corrupt: \(String(cString: ZSTD_getErrorName(hint)))")
            }
            frameComplete = hint == 0
            if out.pos > 0 { return out.pos }
        }
    }
}
