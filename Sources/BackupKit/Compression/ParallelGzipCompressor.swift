import CDeflate
import CZlib
import Dispatch
import Foundation

/// gzip on every core, faster than pigz: libdeflate's deflate for text, a plain copy for what does not
/// compress.
///
/// Input is cut into 128 KiB blocks, each cut into 16 KiB segments. A segment whose bytes look random
/// (``GzipBatch/isIncompressible(_:)``: PDF, JPEG, ZIP or MP4 bodies) is written as deflate stored blocks,
/// a copy with 5 bytes of framing per 64 KiB; the others are deflated by libdeflate, two to three times
/// faster than zlib at the same level and a little smaller. Each deflated run is a raw deflate stream of
/// its own, made to follow the next one (``DeflateJoin``: no final block, ending on a byte boundary), so
/// the blocks concatenate into one deflate stream, which an empty final block ends. The output is a
/// single gzip member that `gunzip`, GNU tar and zlib read as usual, no larger than `gzip -6`'s on the
/// benchmark volume. The CRC-32 of each block is combined in order for the trailer.
///
/// Blocks go in batches: while one batch is compressed by the worker threads, the caller writes out the
/// one before it and fills the next, so tar writing, hashing and compression overlap. Memory is three
/// batches, whatever the input size.
final class ParallelGzipCompressor: Compressor {
    static let blockSize = 128 * 1024
    static let dictionarySize = 32 * 1024

    private let output: ByteOutput
    private let blocksPerBatch: Int
    private var filling: GzipBatch
    private var spares: [GzipBatch] = []
    /// Batches being compressed, oldest first: the oldest is written out while the newest compresses.
    private var inFlight: [(batch: GzipBatch, done: DispatchGroup)] = []
    private var wroteHeader = false
    private var crc: uLong = crc32(0, nil, 0)
    private var totalInput: UInt64 = 0
    private var finished = false
    /// How many input blocks went out as stored blocks, and how many in all.
    private(set) var storedBlocks = 0
    private(set) var blocks = 0

    private let deflaters: DeflaterPool

    init(level: Int, threads: Int, output: @escaping ByteOutput) {
        deflaters = DeflaterPool(level: Int32(level))
        self.output = output
        blocksPerBatch = max(4, threads * 4)
        filling = GzipBatch(blocks: blocksPerBatch, blockSize: Self.blockSize, dictionarySize: Self.dictionarySize, deflaters: deflaters)
    }

    func write(_ bytes: UnsafeRawBufferPointer) throws {
        var remaining = bytes
        while !remaining.isEmpty {
            let taken = filling.append(remaining)
            remaining = UnsafeRawBufferPointer(rebasing: remaining[taken...])
            if filling.isFull { try dispatch(isLast: false) }
        }
        totalInput &+= UInt64(bytes.count)
    }

    func finish() throws {
        precondition(!finished, "finish called twice")
        finished = true
        if filling.count > 0 || inFlight.isEmpty {
            try dispatch(isLast: true)
            while !inFlight.isEmpty { try drainOldest() }
        } else {
            // Everything went out in full batches that ended with a sync flush: close the deflate
            // stream with an empty final block (BFINAL=1, fixed Huffman, end-of-block).
            while !inFlight.isEmpty { try drainOldest() }
            try emitHeaderIfNeeded()
            try [UInt8]([0x03, 0x00]).withUnsafeBytes { try output($0) }
        }
        var trailer = [UInt8](repeating: 0, count: 8)
        let crc32Value = UInt32(truncatingIfNeeded: crc)
        let size32 = UInt32(truncatingIfNeeded: totalInput)
        for i in 0..<4 {
            trailer[i] = UInt8(truncatingIfNeeded: crc32Value >> (8 * UInt32(i)))
            trailer[4 + i] = UInt8(truncatingIfNeeded: size32 >> (8 * UInt32(i)))
        }
        try trailer.withUnsafeBytes { try output($0) }
    }

    /// Hands the filled batch to the workers, then writes out the one before it while this one
    /// compresses (a batch's dictionary is the previous batch's input, so batches never wait for each
    /// other). At most two batches compress at a time, and three exist: memory stays flat.
    private func dispatch(isLast: Bool) throws {
        let batch = filling
        batch.isLast = isLast
        let next = spares.popLast() ?? GzipBatch(blocks: blocksPerBatch, blockSize: Self.blockSize, dictionarySize: Self.dictionarySize, deflaters: deflaters)
        next.reset(dictionaryFrom: batch)
        filling = next
        let group = DispatchGroup()
        DispatchQueue.global().async(group: group) {
            DispatchQueue.concurrentPerform(iterations: batch.blockCount) { batch.compressBlock($0) }
        }
        inFlight.append((batch, group))
        while inFlight.count > 1 { try drainOldest() }
    }

    /// Waits for the oldest batch in flight and writes its blocks out in order.
    private func drainOldest() throws {
        guard !inFlight.isEmpty else { return }
        let (batch, group) = inFlight.removeFirst()
        group.wait()
        try emitHeaderIfNeeded()
        for index in 0..<batch.blockCount {
            let result = batch.result(index)
            guard result.status == Z_OK else { throw BackupError(.archive, "gzip compression failed: zlib status \(result.status)") }
            try output(batch.compressed(index))
            blocks += 1
            if result.stored { storedBlocks += 1 }
            crc = crc32_combine(crc, result.crc, off_t(batch.count == 0 ? 0 : batch.blockLength(index)))
        }
        spares.append(batch)
    }

    private func emitHeaderIfNeeded() throws {
        guard !wroteHeader else { return }
        wroteHeader = true
        // Magic, deflate, no flags, no mtime (reproducible), extra flags 0, OS 3 (Unix).
        let header: [UInt8] = [0x1f, 0x8b, 0x08, 0x00, 0, 0, 0, 0, 0x00, 0x03]
        try header.withUnsafeBytes { try output($0) }
    }
}

/// One batch of blocks, with a zlib stream per block for the repeat trial (level 1). The caller fills it
/// on one thread; then each worker touches only its own block's stream, output buffer and result slots.
final class GzipBatch: @unchecked Sendable {
    /// libdeflate's compressors, shared by the batches of one compressor.
    let deflaters: DeflaterPool
    let blockSize: Int
    let dictionarySize: Int
    let capacity: Int
    /// The 32 KiB before the first block (the previous batch's tail), then the blocks themselves.
    private let input: UnsafeMutableRawBufferPointer
    private var dictionaryLength = 0
    private(set) var count = 0
    var isLast = false
    private let outputs: [UnsafeMutableRawBufferPointer]
    /// One slot per block, written only by the worker compressing that block: raw memory, so that
    /// concurrent writes to different slots never touch a shared Swift array.
    private let results: UnsafeMutablePointer<BlockResult>
    private let streams: UnsafeMutablePointer<z_stream>
    private let streamCount: Int

    init(blocks: Int, blockSize: Int, dictionarySize: Int, deflaters: DeflaterPool) {
        self.deflaters = deflaters
        self.blockSize = blockSize
        self.dictionarySize = dictionarySize
        capacity = blocks * blockSize
        input = .allocate(byteCount: dictionarySize + capacity, alignment: 16)
        // A sync flush adds at most a few bytes to deflateBound; leave ample room.
        outputs = (0..<blocks).map { _ in .allocate(byteCount: blockSize + blockSize / 8 + 1024, alignment: 16) }
        results = .allocate(capacity: blocks)
        results.initialize(repeating: BlockResult(), count: blocks)
        streamCount = blocks
        streams = .allocate(capacity: blocks)
        for index in 0..<blocks {
            streams.advanced(by: index).initialize(to: z_stream())
            let status = bk_deflate_init_raw(streams.advanced(by: index), 1)
            precondition(status == Z_OK, "deflateInit2 failed: \(status)")
        }
    }

    deinit {
        for index in 0..<streamCount { deflateEnd(streams.advanced(by: index)) }
        streams.deinitialize(count: streamCount)
        streams.deallocate()
        results.deallocate()
        input.deallocate()
        outputs.forEach { $0.deallocate() }
    }

    var isFull: Bool { count == capacity }
    var blockCount: Int { count == 0 ? (isLast ? 1 : 0) : (count + blockSize - 1) / blockSize }

    func blockLength(_ index: Int) -> Int { min(blockSize, count - index * blockSize) }

    /// Copies as much of `bytes` as fits; returns how much it took.
    func append(_ bytes: UnsafeRawBufferPointer) -> Int {
        let taken = min(bytes.count, capacity - count)
        (input.baseAddress! + dictionarySize + count).copyMemory(from: bytes.baseAddress!, byteCount: taken)
        count += taken
        return taken
    }

    /// Empties the batch and primes it with the last 32 KiB of `previous` as the first block's dictionary.
    func reset(dictionaryFrom previous: GzipBatch) {
        let length = min(dictionarySize, previous.dictionaryLength + previous.count)
        let source = previous.input.baseAddress! + previous.dictionarySize + previous.count - length
        (input.baseAddress! + dictionarySize - length).copyMemory(from: source, byteCount: length)
        dictionaryLength = length
        count = 0
        isLast = false
    }

    /// Compresses block `index`: its runs of incompressible segments as stored blocks, the others deflated
    /// by libdeflate (each run on its own, made to join the next by ``DeflateJoin``). Incompressible input
    /// (PDF, JPEG, ZIP, MP4 bodies) is stored because deflate would spend as long on it as on text and
    /// gain nothing; the choice is made per segment, so that tar headers and small files between random
    /// ones are still deflated. Random-looking bytes may still repeat what came just before (the same
    /// small file twice): a quick trial with the 32 KiB before them decides for the block.
    func compressBlock(_ index: Int) {
        let start = input.baseAddress! + dictionarySize + index * blockSize
        let length = count == 0 ? 0 : blockLength(index)
        let available = index == 0 ? dictionaryLength : dictionarySize
        var runs = Self.segmentRuns(UnsafeRawBufferPointer(start: start, count: length))
        if runs.contains(where: \.stored), let first = runs.first(where: \.stored) {
            deflateReset(streams.advanced(by: index))
            if trialFindsMatches(index, start: start + first.offset, length: first.length, dictionary: min(available + first.offset, dictionarySize)) {
                runs = [SegmentRun(offset: 0, length: length, stored: false)]
            }
        }
        let output = outputs[index]
        var written = 0
        func putStored(_ from: UnsafeRawPointer, _ count: Int) {
            var offset = 0
            repeat {
                let chunk = min(65535, count - offset)
                let header: [UInt8] = [0, UInt8(chunk & 0xff), UInt8(chunk >> 8), UInt8(~chunk & 0xff), UInt8((~chunk >> 8) & 0xff)]
                for byte in header { output[written] = byte; written += 1 }
                (output.baseAddress! + written).copyMemory(from: from + offset, byteCount: chunk)
                written += chunk
                offset += chunk
            } while offset < count
        }
        let deflater = deflaters.take()
        defer { deflaters.give(deflater) }
        for run in runs {
            let from = UnsafeRawPointer(start + run.offset)
            if !run.stored {
                let room = output.count - written - DeflateJoin.extraBytes - 8
                let produced = libdeflate_deflate_compress(deflater, from, run.length, output.baseAddress! + written, room)
                if produced > 0, produced < run.length,
                   let joined = DeflateJoin.makeJoinable(UnsafeMutableRawBufferPointer(rebasing: output[written...]), length: produced) {
                    written += joined
                    continue
                }
            }
            putStored(from, run.length)
        }
        if isLast && index == blockCount - 1 {
            // The final block: empty, fixed Huffman, BFINAL set.
            output[written] = 0x03
            output[written + 1] = 0x00
            written += 2
        }
        results[index] = BlockResult(length: written, crc: uLong(libdeflate_crc32(0, start, length)), status: Z_OK,
                                     stored: runs.contains(where: \.stored))
    }

    /// A stretch of a block compressed one way: stored, or deflated at the batch's level.
    struct SegmentRun: Equatable {
        var offset: Int
        var length: Int
        var stored: Bool
    }

    /// The block cut into ``segmentSize`` segments, each stored when ``isIncompressible(_:)``, and
    /// neighbours of the same kind joined.
    static func segmentRuns(_ block: UnsafeRawBufferPointer) -> [SegmentRun] {
        var runs: [SegmentRun] = []
        var offset = 0
        while offset < block.count {
            let length = min(segmentSize, block.count - offset)
            let stored = isIncompressible(UnsafeRawBufferPointer(rebasing: block[offset..<offset + length]))
            if let last = runs.last, last.stored == stored {
                runs[runs.count - 1].length += length
            } else {
                runs.append(SegmentRun(offset: offset, length: length, stored: stored))
            }
            offset += length
        }
        return runs
    }

    static let segmentSize = 16 * 1024

    /// Deflates the first 16 KiB of the block at level 1, with the block's dictionary, into the block's
    /// output buffer (the real pass overwrites it): true when that saves at least 2%.
    private func trialFindsMatches(_ index: Int, start: UnsafeMutableRawPointer, length: Int, dictionary available: Int) -> Bool {
        let stream = streams.advanced(by: index)
        if available > 0 {
            guard deflateSetDictionary(stream, (start - available).assumingMemoryBound(to: Bytef.self), uInt(available)) == Z_OK else { return true }
        }
        let sample = min(length, Self.trialLength)
        stream.pointee.next_in = start.assumingMemoryBound(to: Bytef.self)
        stream.pointee.avail_in = uInt(sample)
        stream.pointee.next_out = outputs[index].baseAddress!.assumingMemoryBound(to: Bytef.self)
        stream.pointee.avail_out = uInt(outputs[index].count)
        guard deflate(stream, Z_SYNC_FLUSH) == Z_OK else { return true }
        let produced = outputs[index].count - Int(stream.pointee.avail_out)
        return produced < sample * 98 / 100
    }

    static let trialLength = 16 * 1024

    /// Whether deflate would gain nothing on `bytes`: their byte histogram's entropy is at least
    /// ``incompressibleEntropy`` bits per byte, as random data, compressed files and encrypted ones
    /// have, while text, logs and databases stay far below it.
    static func isIncompressible(_ bytes: UnsafeRawBufferPointer) -> Bool {
        guard bytes.count >= 4096 else { return false }
        // Four tables, summed at the end: one table's increments would wait on each other.
        var tables = [UInt32](repeating: 0, count: 4 * 256)
        tables.withUnsafeMutableBufferPointer { tables in
            let table = tables.baseAddress!
            let base = bytes.baseAddress!.assumingMemoryBound(to: UInt8.self)
            let quads = bytes.count / 4
            for index in 0..<quads {
                let word = UnsafeRawPointer(base + 4 * index).loadUnaligned(as: UInt32.self)
                table[Int(word & 0xff)] &+= 1
                table[256 + Int((word >> 8) & 0xff)] &+= 1
                table[512 + Int((word >> 16) & 0xff)] &+= 1
                table[768 + Int(word >> 24)] &+= 1
            }
            for index in (4 * quads)..<bytes.count { table[Int(base[index])] &+= 1 }
        }
        let total = Double(bytes.count)
        var entropy = 0.0
        for symbol in 0..<256 {
            let count = Int(tables[symbol]) + Int(tables[256 + symbol]) + Int(tables[512 + symbol]) + Int(tables[768 + symbol])
            guard count > 0 else { continue }
            let p = Double(count) / total
            entropy -= p * log2(p)
        }
        return entropy >= incompressibleEntropy
    }

    /// The entropy, in bits per byte, from which a block is stored rather than deflated. Huffman coding
    /// alone could save at most (8 - 7.9) / 8, 1.25%, of such a block, and deflate's matches find nothing
    /// in it; text is near 5 and hex-encoded bytes at 4.
    static let incompressibleEntropy = 7.9

    func result(_ index: Int) -> BlockResult { results[index] }

    func compressed(_ index: Int) -> UnsafeRawBufferPointer {
        UnsafeRawBufferPointer(rebasing: outputs[index][0..<results[index].length])
    }
}

struct BlockResult {
    var length = 0
    var crc: uLong = 0
    var status: Int32 = Z_OK
    var stored = false
}

/// libdeflate compressors for the blocks at work: one per thread at most, reused.
final class DeflaterPool: @unchecked Sendable {
    private let level: Int32
    private let lock = NSLock()
    private var free: [OpaquePointer] = []

    init(level: Int32) { self.level = level }

    deinit { free.forEach { libdeflate_free_compressor($0) } }

    func take() -> OpaquePointer {
        if let deflater = lock.withLock({ free.popLast() }) { return deflater }
        guard let deflater = libdeflate_alloc_compressor(level) else { fatalError("libdeflate: out of memory") }
        return deflater
    }

    func give(_ deflater: OpaquePointer) { lock.withLock { free.append(deflater) } }
}
