@testable import BackupKit
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

    /// Each block is primed with the 32 KiB before it, so repeats across block boundaries still compress
    /// as they would in one stream (as gzip -6 does).
    @Test func blocksSeeThePreviousBlocksData() throws {
        let chunk = pseudoRandomBytes(20_000, seed: 7)
        let input = Array((0..<(5 << 20) / chunk.count).flatMap { _ in chunk })
        let compressed = try Self.compress(input, .gzip)
        #expect(compressed.count < 200_000, "\(compressed.count) bytes for 5 MiB of a repeated 20 kB chunk")
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

    @Test func trailingGarbageAfterGzipIsAnError() throws {
        let compressed = try Self.compress(Array("hello".utf8), .gzip)
        #expect(throws: BackupError.self) { try Self.decompress(compressed + [0x00, 0x01, 0x02], .gzip) }
    }
}

extension Array where Element == UInt8 {
    /// A short stand-in for comparing large buffers without printing them.
    var hexDigest: String { SHA256.hash(data: self).hexString }
}
