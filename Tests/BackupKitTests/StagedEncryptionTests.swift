@testable import BackupKit
import Crypto
import Foundation
import Testing

/// The encrypting view an encrypted sink reads: front to back it is a valid age file of the staged
/// plaintext, and a read at any offset (a retried or parallel S3 part) gives the very same bytes.
struct StagedEncryptionTests {
    static func encryptedBytes(_ file: StagedFile) throws -> [UInt8] {
        var bytes: [UInt8] = []
        try file.open().forEachChunk(bufferSize: 10_000) { bytes += $0 }
        return bytes
    }

    @Test(arguments: [0, 1, 65_535, 65_536, 65_537, 3 * 65_536, 300_001])
    func theViewIsAnAgeFileAndEveryOffsetReadsTheSameBytes(size: Int) throws {
        let dir = try TemporaryDirectory("staged-encryption")
        defer { dir.remove() }
        let plaintext = pseudoRandomBytes(size, seed: UInt64(size) + 1)
        let staged = try StagedFile(writing: plaintext, to: dir.sub("artifact"))
        let identity = AgeIdentity.generate()
        let encrypted = try staged.encrypted(to: [identity.recipient, AgeIdentity.generate().recipient])
        let whole = try Self.encryptedBytes(encrypted)
        #expect(Int64(whole.count) == encrypted.digest.size)
        #expect(SHA256.hash(data: whole).hexString == encrypted.digest.sha256, "the recorded digest is the digest of what a sink reads")
        let header = try #require(AgeHeader.end(in: whole))
        #expect(SHA256.hash(data: whole[header...]).hexString == encrypted.payloadSHA256)
        #expect(try Self.encryptedBytes(encrypted) == whole, "a second read gives the same bytes")

        let decryptor = AgeDecryptor(identities: [identity])
        var opened: [UInt8] = []
        try whole.withUnsafeBytes { try decryptor.update($0) { opened += $0 } }
        try decryptor.finish { opened += $0 }
        #expect(opened == plaintext)

        // Reads at offsets, as parts of a multipart upload and their retries do.
        var generator = SystemRandomNumberGenerator()
        let reader = try encrypted.open()
        for _ in 0..<40 {
            let offset = Int.random(in: 0...whole.count, using: &generator)
            let length = Int.random(in: 0...150_000, using: &generator)
            var buffer = [UInt8](repeating: 0, count: length)
            let count = try buffer.withUnsafeMutableBytes { try reader.read(into: $0, at: Int64(offset)) }
            let expected = whole[offset..<min(whole.count, offset + length)]
            let same = buffer[0..<count] == expected
            #expect(same, "bytes \(offset)..<\(offset + length) read at their offset")
        }
    }

    @Test func aStagedFileThatChangedIsAnError() throws {
        let dir = try TemporaryDirectory("staged-encryption-changed")
        defer { dir.remove() }
        let staged = try StagedFile(writing: pseudoRandomBytes(200_000), to: dir.sub("artifact"))
        let encryption = try StagedEncryption(recipients: [AgeIdentity.generate().recipient], plaintextSize: staged.digest.size)
        try writeFile(dir.sub("artifact"), pseudoRandomBytes(100_000))
        #expect(throws: BackupError.self) { try encryption.digests(ofPlaintext: staged.path) }
    }
}
