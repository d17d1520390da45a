@testable import BackupKit
import Foundation
import Glibc
import Testing

/// The read-back that trails the write: it reads what the file system holds, in order, to the end the
/// writer gives, and stops when the writer gives up.
struct GrowingFileTests {
    /// A staged file just created, and the growth its writer reports.
    static func startedFile(_ label: String) throws -> (TemporaryDirectory, AtomicFileWriter, GrowingFile) {
        let dir = try TemporaryDirectory(label)
        let writer = try AtomicFileWriter(finalPath: dir.sub("artifact"), mode: 0o600)
        let growth = GrowingFile()
        growth.began(at: writer.temporaryPath, final: dir.sub("artifact"))
        return (dir, writer, growth)
    }

    @Test func theReaderGetsEveryByteAsItArrivesAndEndsAtTheEnd() throws {
        let (dir, writer, growth) = try Self.startedFile("growing")
        defer { dir.remove() }
        let chunks = (0..<20).map { pseudoRandomBytes(10_000 + $0 * 777, seed: UInt64($0)) }
        nonisolated(unsafe) let reader = TrailingFileReader(growth: growth)
        let done = DispatchSemaphore(value: 0)
        let progress = NSCondition()
        nonisolated(unsafe) var read: [UInt8] = []
        nonisolated(unsafe) var failure: (any Error)?
        Thread {
            do {
                let buffer = UnsafeMutableRawBufferPointer.allocate(byteCount: 4096, alignment: 8)
                defer { buffer.deallocate() }
                while true {
                    let count = try reader.read(into: buffer)
                    progress.withLock {
                        read += buffer[0..<count]
                        progress.broadcast()
                    }
                    if count == 0 { break }
                }
            } catch { failure = error }
            done.signal()
        }.start()
        // Each chunk only once the reader has caught up with the ones before: it must wait for more,
        // not take the current end for the end.
        var total = 0
        for chunk in chunks {
            try chunk.withUnsafeBytes { try writer.write($0) }
            growth.grew(by: chunk.count)
            total += chunk.count
            let caughtUp = progress.withLock {
                let deadline = Date().addingTimeInterval(10)
                while read.count < total { if !progress.wait(until: deadline) { return false } }
                return true
            }
            #expect(caughtUp, "the reader stopped at \(read.count) of \(total) bytes")
            guard caughtUp else { break }
        }
        growth.complete()
        try writer.finishWriting()
        done.wait()
        #expect(failure == nil)
        #expect(read.count == chunks.map(\.count).reduce(0, +) && read.hexDigest == chunks.flatMap { $0 }.hexDigest)
        var written = CRC32Accumulator()
        for chunk in chunks { chunk.withUnsafeBytes { written.update($0) } }
        #expect(reader.checksum == written)
    }

    /// What it reads comes from the file, not from the writer: a byte changed on disk after it was
    /// written is a byte the read-back sees, and the checksums differ.
    @Test func theReadBackSeesTheFileNotTheWriter() throws {
        let (dir, writer, growth) = try Self.startedFile("growing-disk")
        defer { dir.remove() }
        let bytes = pseudoRandomBytes(50_000, seed: 9)
        try bytes.withUnsafeBytes { try writer.write($0) }
        // Damage between the write and the read-back.
        let fd = open(writer.temporaryPath, O_WRONLY)
        var flipped: UInt8 = bytes[1234] ^ 0xff
        #expect(pwrite(fd, &flipped, 1, 1234) == 1)
        close(fd)
        growth.grew(by: bytes.count)
        growth.complete()
        try writer.finishWriting()
        var written = CRC32Accumulator()
        bytes.withUnsafeBytes { written.update($0) }
        let reader = TrailingFileReader(growth: growth)
        let buffer = UnsafeMutableRawBufferPointer.allocate(byteCount: 65536, alignment: 8)
        defer { buffer.deallocate() }
        while try reader.read(into: buffer) > 0 {}
        #expect(reader.checksum.count == written.count)
        #expect(throws: BackupError.self) { try ArtifactVerifier.check(readBack: reader.checksum, against: written, name: "artifact") }
    }

    @Test func aWriterThatGivesUpStopsTheReader() throws {
        let (dir, writer, growth) = try Self.startedFile("growing-abandon")
        defer { dir.remove() }
        defer { withExtendedLifetime(writer) {} }
        nonisolated(unsafe) let reader = TrailingFileReader(growth: growth)
        let done = DispatchSemaphore(value: 0)
        nonisolated(unsafe) var failure: (any Error)?
        Thread {
            let buffer = UnsafeMutableRawBufferPointer.allocate(byteCount: 4096, alignment: 8)
            defer { buffer.deallocate() }
            do { while try reader.read(into: buffer) > 0 {} } catch { failure = error }
            done.signal()
        }.start()
        growth.abandon()
        done.wait()
        #expect(failure is CancellationError)
    }
}

/// The read-back's checksum is the standard CRC-32 (the one gzip's trailer holds), over chunks.
struct CRC32AccumulatorTests {
    @Test func itIsTheStandardCRC32WhateverTheChunks() {
        var whole = CRC32Accumulator()
        Array("123456789".utf8).withUnsafeBytes { whole.update($0) }
        #expect(whole.crc == 0xcbf4_3926 && whole.count == 9)
        var pieces = CRC32Accumulator()
        for piece in ["1234", "", "56789"] { Array(piece.utf8).withUnsafeBytes { pieces.update($0) } }
        #expect(pieces == whole)
    }
}
