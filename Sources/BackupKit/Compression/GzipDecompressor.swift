import CZlib

/// Reads a gzip stream through zlib, which checks each member's CRC-32 and length. Several members in a
/// row are read as one stream, as `gunzip` does. Truncation, a bad CRC and trailing garbage are errors.
final class GzipDecompressor: Decompressor {
    private let input: ByteInput
    private let stream: UnsafeMutablePointer<z_stream>
    private let inputBuffer: UnsafeMutableRawBufferPointer
    private var atEndOfInput = false
    private var memberComplete = false
    private var sawInput = false

    init(input: @escaping ByteInput) throws {
        self.input = input
        stream = .allocate(capacity: 1)
        stream.initialize(to: z_stream())
        inputBuffer = .allocate(byteCount: 256 * 1024, alignment: 16)
        guard bk_inflate_init_gzip(stream) == Z_OK else {
            throw BackupError(.archive, "zlib: cannot start a gzip reader")
        }
    }

    deinit {
        inflateEnd(stream)
        stream.deinitialize(count: 1)
        stream.deallocate()
        inputBuffer.deallocate()
    }

    func read(into buffer: UnsafeMutableRawBufferPointer) throws -> Int {
        while true {
            if stream.pointee.avail_in == 0, !atEndOfInput {
                let count = try input(inputBuffer)
                if count == 0 {
                    atEndOfInput = true
                } else {
                    sawInput = true
                    stream.pointee.next_in = inputBuffer.baseAddress!.assumingMemoryBound(to: Bytef.self)
                    stream.pointee.avail_in = uInt(count)
                }
            }
            if stream.pointee.avail_in == 0, atEndOfInput {
                guard sawInput else { throw corruptStream("gzip stream is empty") }
                guard memberComplete else { throw corruptStream("gzip stream is truncated: it ends before its trailer") }
                return 0
            }
            if memberComplete {
                // Another member follows; it must start with the gzip magic, or it is garbage.
                guard stream.pointee.next_in[0] == 0x1f else {
                    throw corruptStream("gzip stream has trailing garbage after its last member")
                }
                inflateReset(stream)
                memberComplete = false
            }
            stream.pointee.next_out = buffer.baseAddress!.assumingMemoryBound(to: Bytef.self)
            stream.pointee.avail_out = uInt(buffer.count)
            let status = inflate(stream, Z_NO_FLUSH)
            let produced = buffer.count - Int(stream.pointee.avail_out)
            switch status {
            case Z_STREAM_END:
                memberComplete = true
            case Z_OK, Z_BUF_ERROR:
                break
            case Z_DATA_ERROR:
                let detail = stream.pointee.msg.map { String(cString: $0) } ?? "invalid data"
                throw corruptStream("gzip stream is corrupt: \(detail)")
            default:
                throw corruptStream("gzip stream cannot be read: zlib status \(status)")
            }
            if produced > 0 { return produced }
        }
    }
}
