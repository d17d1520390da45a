import CDeflate
import CZlib

/// Raw deflate streams made to follow one another, so that blocks compressed apart form one stream, as
/// zlib's `examples/gzjoin.c` joins gzip members: the last block's BFINAL bit is cleared, and empty
/// blocks fill the last byte so the stream ends on a byte boundary.
enum DeflateJoin {
    /// Rewrites the complete raw deflate stream in `buffer[0..<length]` so that it has no final block and
    /// ends on a byte boundary; returns its new length (at most 6 bytes more). `buffer` must have room.
    /// Returns nil when the stream does not inflate.
    static func makeJoinable(_ buffer: UnsafeMutableRawBufferPointer, length: Int) -> Int? {
        guard length > 0 else { return nil }
        let bytes = buffer.baseAddress!.assumingMemoryBound(to: UInt8.self)
        var stream = z_stream()
        guard bk_inflate_init_raw(&stream) == Z_OK else { return nil }
        defer { inflateEnd(&stream) }
        let junk = UnsafeMutablePointer<Bytef>.allocate(capacity: junkSize)
        defer { junk.deallocate() }
        stream.next_in = bytes
        stream.avail_in = uInt(length)
        var last = bytes[0] & 1 != 0
        if last { bytes[0] &= ~1 }
        while true {
            stream.next_out = junk
            stream.avail_out = uInt(junkSize)
            let status = inflate(&stream, Z_BLOCK)
            guard status == Z_OK || status == Z_BUF_ERROR else { return nil }
            if stream.data_type & 128 != 0 {
                if last { break }
                let unused = Int(stream.data_type & 7)
                if unused != 0 {
                    // The next block's header starts inside the last byte read.
                    let mask = UInt8(truncatingIfNeeded: 0x100 >> unused)
                    let byte = stream.next_in - 1
                    last = byte.pointee & mask != 0
                    if last { byte.pointee &= ~mask }
                } else {
                    guard stream.avail_in > 0 else { return nil }
                    last = stream.next_in.pointee & 1 != 0
                    if last { stream.next_in.pointee &= ~1 }
                }
            } else if status == Z_BUF_ERROR && stream.avail_in == 0 {
                return nil
            }
        }
        // The stream ends `unused` bits before the end of the last byte read: fill them with empty blocks.
        let unused = Int(stream.data_type & 7)
        var end = bytes.distance(to: stream.next_in)
        guard unused != 0 else { return end }
        var lastByte = bytes[end - 1] & UInt8((0x100 >> unused) - 1)
        end -= 1
        func put(_ byte: UInt8) { bytes[end] = byte; end += 1 }
        if unused & 1 == 1 {
            // An empty stored block: its 3 header bits, padding to the byte, LEN 0 and NLEN 0xffff.
            put(lastByte)
            if unused == 1 { put(0) }
            put(0); put(0); put(0xff); put(0xff)
        } else {
            // One, two or three empty fixed-Huffman blocks of 10 bits each.
            if unused == 6 { put(lastByte | 8); lastByte = 0 }
            if unused >= 4 { put(lastByte | 0x20); lastByte = 0 }
            put(lastByte | 0x80)
            put(0)
        }
        return end
    }

    static let junkSize = 64 * 1024
    /// The most bytes ``makeJoinable(_:length:)`` adds.
    static let extraBytes = 6
}
