@testable import BackupKit
import BackupSinks
import CDeflate
import BackupSources
import Crypto
import Foundation
import Testing

/// The compression stages: our parallel gzip must be a gzip that zlib and `gunzip` read back exactly,
/// at every size around its block and batch boundaries; damage must never read as valid data.
@Suite struct CompressionTests {
    static let block = ParallelGzipCompressor.blockSize

    static func compress(_ input: [UInt8], _ compression: Compression, threads: Int = 2, chunk: Int = 100_003) throws -> [UInt8] {
        var output: [UInt8] = []
        let compressor = try compression.makeCompressor(level: nil, threads: threads) { output.append(contentsOf: $0) }
        var offset = 0
        while offset < input.count {
            let end = min(input.count, offset + chunk)
            try input[offset..<end].withUnsafeBytes { try compressor.write($0) }
            offset = end
        }
        try compressor.finish()
        return output
    }

    static func decompress(_ input: [UInt8], _ compression: Compression) throws -> [UInt8] {
        var offset = 0
        let decompressor = try compression.makeDecompressor { buffer in
            let count = min(buffer.count, input.count - offset, 70_001)
            buffer.copyMemory(from: UnsafeRawBufferPointer(rebasing: input.withUnsafeBytes { $0 }[offset..<offset + count]))
            offset += count
            return count
        }
        var output: [UInt8] = []
        let buffer = UnsafeMutableRawBufferPointer.allocate(byteCount: 65536, alignment: 8)
        defer { buffer.deallocate() }
        while true {
            let count = try decompressor.read(into: buffer)
            if count == 0 { break }
            output.append(contentsOf: buffer[0..<count])
        }
        return output
    }

    static let sizes = [0, 1, 1000, block - 1, block, block + 1, 16 * block, 16 * block + 5, 40 * block + 77]

    @Test(arguments: sizes)
    func gzipRoundTripsAtBoundaries(size: Int) throws {
        // Half text (so dictionaries matter), half noise.
        let text = Array(String(repeating: "the quick brown fox jumps over the lazy dog 0123456789\n", count: size / 55 + 1).utf8)
        let input = Array((zip(text, pseudoRandomBytes(size)).enumerated().map { $0.offset % 4096 < 2048 ? $0.element.0 : $0.element.1 }).prefix(size))
        let compressed = try Self.compress(input, .gzip)
        #expect(try Self.decompress(compressed, .gzip).hexDigest == input.hexDigest)
        // And the system's gunzip agrees, checksum included.
        let dir = try TemporaryDirectory("gz")
        defer { dir.remove() }
        try writeFile(dir.sub("x.gz"), compressed)
        #expect(try runProcess("/bin/gunzip", ["-t", dir.sub("x.gz")]).status == 0)
        #expect(try runProcess("/bin/gunzip", [dir.sub("x.gz")]).status == 0)
        #expect((readFile(dir.sub("x")) ?? []).hexDigest == input.hexDigest)
    }

    @Test func gzipIsTheSameWithOneThreadOrMany() throws {
        let input = pseudoRandomBytes(3 << 20).map { $0 & 0x1f }
        let one = try Self.compress(input, .gzip, threads: 1)
        let many = try Self.compress(input, .gzip, threads: 4)
        #expect(try Self.decompress(one, .gzip).hexDigest == input.hexDigest)
        #expect(try Self.decompress(many, .gzip).hexDigest == input.hexDigest)
        #expect(one.count == many.count || abs(one.count - many.count) < 16, "block layout, not threads, decides the output")
        #expect(one.count < input.count * 3 / 4, "compressible input must shrink")
    }

    /// Repeats within a block are found (libdeflate compresses each block's text on its own).
    @Test func repeatsWithinABlockCompress() throws {
        let chunk = pseudoRandomBytes(20_000, seed: 7)
        let input = Array((0..<(5 << 20) / chunk.count).flatMap { _ in chunk })
        let compressed = try Self.compress(input, .gzip)
        #expect(compressed.count < input.count / 4, "\(compressed.count) bytes for 5 MiB of a repeated 20 kB chunk")
        #expect(try Self.decompress(compressed, .gzip).hexDigest == input.hexDigest)
    }

    @Test(arguments: [0, 1, 5 << 20])
    func zstdRoundTrips(size: Int) throws {
        let input = pseudoRandomBytes(size).map { $0 & 0x0f }
        #expect(try Self.decompress(try Self.compress(input, .zstd), .zstd).hexDigest == input.hexDigest)
    }

    @Test(arguments: [Compression.gzip, Compression.zstd])
    func truncationIsAnError(compression: Compression) throws {
        let compressed = try Self.compress(pseudoRandomBytes(1 << 20).map { $0 & 0x3f }, compression)
        for cut in [1, 8, compressed.count / 2] {
            #expect(throws: BackupError.self, "cut \(cut) bytes") {
                try Self.decompress(Array(compressed.dropLast(cut)), compression)
            }
        }
        #expect(throws: BackupError.self) { try Self.decompress([], compression) }
    }

    @Test(arguments: [Compression.gzip, Compression.zstd])
    func aFlippedByteIsAnError(compression: Compression) throws {
        let compressed = try Self.compress(pseudoRandomBytes(1 << 20).map { $0 & 0x3f }, compression)
        for position in [compressed.count / 3, compressed.count / 2, compressed.count - 6] {
            var damaged = compressed
            damaged[position] ^= 0x40
            #expect(throws: BackupError.self, "flip at \(position)") { try Self.decompress(damaged, compression) }
        }
    }

    /// Members in a row read as one stream, as `gunzip` reads them, whoever wrote them (`gzip` puts the
    /// file's name in its header); a second member cut short is still truncation.
    @Test func gzipMembersInARowReadAsOneStream() throws {
        let first = pseudoRandomBytes(300_000, seed: 3).map { $0 & 0x1f }
        let second = Array("the second member\n".utf8)
        let dir = try TemporaryDirectory("gzip-members")
        defer { dir.remove() }
        try writeFile(dir.sub("second.txt"), second)
        let gzip = try ChildProcess(executable: "gzip", arguments: ["-N", "-c", dir.sub("second.txt")], environment: ProcessInfo.processInfo.environment)
        var named: [UInt8] = []
        try gzip.forEachChunk { named += $0 }
        #expect(try gzip.wait() == 0)
        #expect(named[3] & 0x08 != 0, "gzip -N writes the name into the header")
        let both = try Self.compress(first, .gzip) + named
        #expect(try Self.decompress(both, .gzip).hexDigest == (first + second).hexDigest)
        #expect(throws: BackupError.self) { try Self.decompress(Array(both.dropLast(3)), .gzip) }
    }

    @Test func trailingGarbageAfterGzipIsAnError() throws {
        let compressed = try Self.compress(Array("hello".utf8), .gzip)
        #expect(throws: BackupError.self) { try Self.decompress(compressed + [0x00, 0x01, 0x02], .gzip) }
    }
}

extension Array where Element == UInt8 {
    /// A short stand-in for comparing large buffers without printing them.
    var hexDigest: String { SHA256.hash(data: self).hexString }
}

/// Incompressible blocks go out as deflate stored blocks (a copy) instead of being deflated for nothing,
/// and the result is still one gzip member that zlib, `gunzip -t` and GNU tar read.
@Suite struct StoredBlockTests {
    /// Compresses with the parallel gzip directly, to see which blocks were stored.
    func compress(_ input: [UInt8]) throws -> (output: [UInt8], stored: Int, blocks: Int) {
        var output: [UInt8] = []
        let compressor = ParallelGzipCompressor(level: 6, threads: 2) { output.append(contentsOf: $0) }
        try input.withUnsafeBytes { try compressor.write($0) }
        try compressor.finish()
        return (output, compressor.storedBlocks, compressor.blocks)
    }

    func gunzipAccepts(_ compressed: [UInt8], _ input: [UInt8]) throws -> Bool {
        let dir = try TemporaryDirectory("stored")
        defer { dir.remove() }
        try writeFile(dir.sub("x.gz"), compressed)
        guard try runProcess("/bin/gunzip", ["-t", dir.sub("x.gz")]).status == 0 else { return false }
        return try runProcess("/bin/gunzip", [dir.sub("x.gz")]).status == 0 && (readFile(dir.sub("x")) ?? []).hexDigest == input.hexDigest
    }

    @Test func randomDataIsStoredAndNoLargerThanTheInputPlusATenthOfAPercent() throws {
        let input = pseudoRandomBytes(6 << 20 + 12345, seed: 11)
        let (output, stored, blocks) = try compress(input)
        #expect(stored == blocks && blocks == (input.count + ParallelGzipCompressor.blockSize - 1) / ParallelGzipCompressor.blockSize)
        #expect(output.count <= input.count + input.count / 1000, "\(output.count) bytes for \(input.count)")
        #expect(try CompressionTests.decompress(output, .gzip).hexDigest == input.hexDigest)
        #expect(try gunzipAccepts(output, input))
    }

    @Test func textIsDeflated() throws {
        let input = Array(String(repeating: "2024-11-30T02:00:00Z INFO job 42 finished in 1.3s for tenant-7\n", count: 100_000).utf8)
        let (output, stored, blocks) = try compress(input)
        #expect(stored == 0 && blocks > 40)
        #expect(output.count < input.count / 10)
        #expect(try gunzipAccepts(output, input))
    }

    /// Random-looking bytes that repeat within deflate's 32 KiB window (the same small file twice)
    /// are deflated: the trial with the dictionary finds the matches.
    @Test func repeatedRandomChunksAreDeflated() throws {
        let chunk = pseudoRandomBytes(20_000, seed: 7)
        let input = Array((0..<(3 << 20) / chunk.count).flatMap { _ in chunk })
        let (output, stored, _) = try compress(input)
        #expect(stored <= 1, "only the first block holds no repeat")
        #expect(output.count < input.count / 5)
    }

    /// Stored and deflated blocks alternate at offsets that are not block-aligned, in both orders: the
    /// stream stays one valid member, byte-exact.
    @Test func storedAndDeflatedBlocksAlternate() throws {
        let text = Array(String(repeating: "the quick brown fox jumps over the lazy dog 0123456789\n", count: 20_000).utf8)
        let noise = pseudoRandomBytes(3 << 20, seed: 3)
        var input: [UInt8] = []
        var (t, n) = (0, 0)
        for size in [300_000, 70_001, 131_072, 1, 500_000, 262_143, 99_999, 400_000] {
            if input.count % 2 == 0 { input += text[t..<t + size / 3]; t += size / 3 } else { input += noise[n..<n + size]; n += size }
            if input.count % 2 == 0 { input.append(0x0a) }
        }
        let (output, stored, blocks) = try compress(input)
        #expect(stored > 0 && stored < blocks, "\(stored) of \(blocks) blocks stored")
        #expect(try CompressionTests.decompress(output, .gzip).hexDigest == input.hexDigest)
        #expect(try gunzipAccepts(output, input))
    }

    /// The whole path: a tree with a random file and a text file archived as tar.gz, read by GNU tar.
    @Test func aTarGzOfRandomAndTextIsReadByGNUTar() async throws {
        let dir = try TemporaryDirectory("stored-tar")
        defer { dir.remove() }
        try FileManager.default.createDirectory(atPath: dir.sub("data"), withIntermediateDirectories: true)
        let random = pseudoRandomBytes(3 << 20, seed: 5)
        try writeFile(dir.sub("data/scan.pdf"), Array("%PDF-1.4\n".utf8) + random)
        try writeFile(dir.sub("data/app.log"), Array(String(repeating: "GET /api/jobs 200 12ms\n", count: 50_000).utf8))
        let plan = BackupPlan(name: "stored", sources: [DirectorySource(name: "data", configuration: .init(path: dir.sub("data")))],
                              sinks: [LocalSink(directory: dir.sub("backups"))])
        let report = await BackupRunner(plan: plan, logger: testLogger).run()
        #expect(report.status == .succeeded, "\(String(describing: report.error))")
        let artifact = try #require(report.artifacts.first)
        let path = dir.sub("backups/\(artifact.name)")
        #expect(try runProcess("/bin/gunzip", ["-t", path]).status == 0)
        #expect(artifact.size < Int64(random.count + random.count / 1000 + 200_000), "\(artifact.size) bytes")
        try FileManager.default.createDirectory(atPath: dir.sub("out"), withIntermediateDirectories: true)
        #expect(try runProcess("/bin/tar", ["xzf", path, "-C", dir.sub("out")]).status == 0)
        #expect(readFile(dir.sub("out/scan.pdf"))?.hexDigest == (Array("%PDF-1.4\n".utf8) + random).hexDigest)
        #expect(readFile(dir.sub("out/app.log"))?.count == 23 * 50_000)
    }
}

/// Raw deflate streams compressed apart, made joinable, follow one another as one stream.
@Suite struct DeflateJoinTests {
    @Test func joinedStreamsInflateAsTheirInputsInOrder() throws {
        var joined: [UInt8] = [0x1f, 0x8b, 0x08, 0, 0, 0, 0, 0, 0, 3]
        var blocks = 0
        var inputs: [UInt8] = []
        let deflater = try #require(libdeflate_alloc_compressor(6))
        defer { libdeflate_free_compressor(deflater) }
        // Texts of many lengths and kinds end at every bit position of their last byte.
        // Small ones are one deflate block; large ones of changing content are several, so the final
        // block's header falls inside a byte as well as at its start.
        let small = (0..<300).map { number in
            Array((0..<(number * 37 % 900 + 1)).map { "line \($0 * number) of \(number)\n" }.joined().utf8.prefix(number * 53 + 1))
        }
        let large = (0..<24).map { number in
            Array((0..<(2000 + number * 300)).map { row in
                row % 500 < 250 ? "\(row * 7919 % 104729),\(row),tenant-\(row % 13)\n" : "{\"job\": \(row), \"state\": \"done\", \"took_ms\": \(row * number % 977)}\n"
            }.joined().utf8)
        }
        for text in zip(small.prefix(24), large).flatMap({ [$0.0, $0.1] }) + small.dropFirst(24) {
            var buffer = [UInt8](repeating: 0, count: text.count + 1024)
            blocks += 1
            let produced = buffer.withUnsafeMutableBytes { out in
                text.withUnsafeBytes { libdeflate_deflate_compress(deflater, $0.baseAddress, text.count, out.baseAddress, out.count - 16) }
            }
            #expect(produced > 0)
            let length = try #require(buffer.withUnsafeMutableBytes { DeflateJoin.makeJoinable($0, length: produced) })
            #expect(length <= produced + DeflateJoin.extraBytes)
            joined += buffer[0..<length]
            inputs += text
        }
        #expect(blocks == 324)
        joined += [0x03, 0x00]
        let crc = UInt32(libdeflate_crc32(0, inputs, inputs.count))
        let size = UInt32(truncatingIfNeeded: inputs.count)
        joined += (0..<4).map { UInt8(truncatingIfNeeded: crc >> (8 * $0)) } + (0..<4).map { UInt8(truncatingIfNeeded: size >> (8 * $0)) }
        #expect(try CompressionTests.decompress(joined, .gzip).hexDigest == inputs.hexDigest)
        let dir = try TemporaryDirectory("join")
        defer { dir.remove() }
        try writeFile(dir.sub("x.gz"), joined)
        #expect(try runProcess("/bin/gunzip", ["-t", dir.sub("x.gz")]).status == 0)
    }

    @Test func aStreamThatDoesNotInflateIsRefused() {
        var garbage: [UInt8] = [0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0, 0, 0, 0, 0, 0, 0, 0]
        #expect(garbage.withUnsafeMutableBytes { DeflateJoin.makeJoinable($0, length: 6) } == nil)
    }
}
