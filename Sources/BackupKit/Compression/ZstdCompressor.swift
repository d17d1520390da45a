import CZstd

/// zstd through libzstd's streaming API, with its own worker threads and a content checksum in every
/// frame so that `zstd -t` and our reader detect damage.
final class ZstdCompressor: Compressor {
    private let context: OpaquePointer
    private let output: ByteOutput
    private let buffer: UnsafeMutableRawBufferPointer

    init(level: Int, threads: Int, output: @escaping ByteOutput) throws {
        guard let context = ZSTD_createCCtx() else { throw BackupError(.archive, "zstd: cannot create a compression context") }
        self.context = context
        self.output = output
        buffer = .allocate(byteCount: ZSTD_CStreamOutSize(), alignment: 16)
        try zstdCheck(ZSTD_CCtx_setParameter(context, ZSTD_c_compressionLevel, Int32(level)), "set level")
        try zstdCheck(ZSTD_CCtx_setParameter(context, ZSTD_c_checksumFlag, 1), "enable checksums")
        // Each worker holds its own window: about 15 MB at level 3 but 145 MB at level 19, so the worker
        // count is capped to keep memory bounded on many-core hosts.
        let workers = min(threads, level >= 10 ? 2 : 8)
        if workers > 1 {
            // A libzstd built without threads refuses this; it then compresses on one core, correctly.
            _ = ZSTD_CCtx_setParameter(context, ZSTD_c_nbWorkers, Int32(workers))
        }
    }

    deinit {
        ZSTD_freeCCtx(context)
        buffer.deallocate()
    }

    func write(_ bytes: UnsafeRawBufferPointer) throws {
        var input = ZSTD_inBuffer(src: bytes.baseAddress, size: bytes.count, pos: 0)
        while input.pos < input.size {
            try step(&input, ZSTD_e_continue)
        }
    }

    func finish() throws {
        var input = ZSTD_inBuffer(src: nil, size: 0, pos: 0)
        while try step(&input, ZSTD_e_end) != 0 {}
    }

    @discardableResult
    private func step(_ input: inout ZSTD_inBuffer, _ directive: ZSTD_EndDirective) throws -> Int {
        var out = ZSTD_outBuffer(dst: buffer.baseAddress, size: buffer.count, pos: 0)
        let remaining = ZSTD_compressStream2(context, &out, &input, directive)
        try zstdCheck(remaining, "compress")
        if out.pos > 0 { try output(UnsafeRawBufferPointer(rebasing: buffer[0..<out.pos])) }
        return remaining
    }
}

private func zstdCheck(_ code: Int, _ what: String) throws {
    if ZSTD_isError(code) != 0 {
        throw BackupError(.archive, "zstd: cannot \(what): \(String(cString: ZSTD_getErrorName(code)))")
    }
}
