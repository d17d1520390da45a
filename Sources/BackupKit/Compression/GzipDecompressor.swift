import CIsal

/// Reads a gzip stream through ISA-L's inflate (four to five times faster than zlib's here), which
/// checks each member's CRC-32 and length. Several members in a row are read as one stream, as `gunzip`
/// does. Truncation, a bad CRC or length and trailing garbage are errors.
final class GzipDecompressor: Decompressor {
    private let input: ByteInput
    private let state: UnsafeMutablePointer<inflate_state>
    private let inputBuffer: UnsafeMutableRawBufferPointer
    private var atEndOfInput = false
    private var memberComplete = false
    private var sawInput = false

    init(input: @escaping ByteInput) throws {
        self.input = input
        state = .allocate(capacity: 1)
        inputBuffer = .allocate(byteCount: 256 * 1024, alignment: 16)
        startMember()
    }

    deinit {
        state.deallocate()
        inputBuffer.deallocate()
    }

    /// Readies the state for a gzip member: its header, deflate data and trailer.
    private func startMember() {
        isal_inflate_init(state)
        state.pointee.crc_flag = UInt32(ISAL_GZIP)
        memberComplete = false
    }

    func read(into buffer: UnsafeMutableRawBufferPointer) throws -> Int {
        while true {
            if state.pointee.avail_in == 0, !atEndOfInput {
                let count = try input(inputBuffer)
                if count == 0 {
                    atEndOfInput = true
                } else {
                    sawInput = true
                    state.pointee.next_in = inputBuffer.baseAddress!.assumingMemoryBound(to: UInt8.self)
                    state.pointee.avail_in = UInt32(count)
                }
            }
            if state.pointee.avail_in == 0, atEndOfInput {
                guard sawInput else { throw corruptStream("gzip stream is empty") }
                guard memberComplete else { throw corruptStream("gzip stream is truncated: it ends before its trailer") }
                return 0
            }
            if memberComplete {
                // Another member follows; it must start with the gzip magic, or it is garbage.
                guard state.pointee.next_in[0] == 0x1f else {
                    throw corruptStream("gzip stream has trailing garbage after its last member")
                }
                let (next, available) = (state.pointee.next_in, state.pointee.avail_in)
                startMember()
                state.pointee.next_in = next
                state.pointee.avail_in = available
            }
            let room = UInt32(min(buffer.count, Int(UInt32.max)))
            state.pointee.next_out = buffer.baseAddress!.assumingMemoryBound(to: UInt8.self)
            state.pointee.avail_out = room
            let availableBefore = state.pointee.avail_in
            let status = isal_inflate(state)
            let produced = Int(room - state.pointee.avail_out)
            switch status {
            case ISAL_DECOMP_OK, ISAL_END_INPUT, ISAL_OUT_OVERFLOW:
                if state.pointee.block_state == ISAL_BLOCK_FINISH { memberComplete = true }
            case ISAL_INCORRECT_CHECKSUM:
                throw corruptStream("gzip stream is corrupt: its CRC-32 or length does not match the data")
            case ISAL_INVALID_WRAPPER, ISAL_UNSUPPORTED_METHOD:
                throw corruptStream("gzip stream is corrupt: incorrect header")
            case ISAL_INVALID_BLOCK, ISAL_INVALID_SYMBOL, ISAL_INVALID_LOOKBACK:
                throw corruptStream("gzip stream is corrupt: invalid deflate data (ISA-L status \(status))")
            default:
                throw corruptStream("gzip stream cannot be read: ISA-L status \(status)")
            }
            if produced > 0 { return produced }
            // Nothing came out: ISA-L must have taken input (into its bit buffer, a header, a trailer)
            // or finished the member; otherwise the stream is stuck, which would loop for ever.
            guard memberComplete || state.pointee.avail_in < availableBefore || state.pointee.avail_in == 0 else {
                throw corruptStream("gzip stream cannot be read: the inflater made no progress (ISA-L status \(status))")
            }
        }
    }
}
