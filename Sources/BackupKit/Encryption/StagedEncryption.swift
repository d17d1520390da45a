import Crypto
import Foundation

/// How an encrypted sink stores a staged file: as the age encryption of its bytes, to the sink's
/// recipients. Nothing encrypted is ever written to disk: the ciphertext is made while a sink reads
/// (``StagedFileReader``), chunk by chunk, from the plaintext at the same offset. Once the file key and
/// nonce are fixed, every byte of it is determined, so a retried part or a resumed upload reads the
/// same bytes again, and the size and SHA-256 recorded in the manifest hold for every read.
public struct StagedEncryption: Sendable, Hashable {
    /// The age header and the payload nonce: the file's first bytes.
    let prefix: [UInt8]
    /// The header's length (without the nonce).
    public let headerLength: Int
    let payloadKey: AgePayloadKey
    /// The plaintext's size.
    public let plaintextSize: Int64

    /// A new file key and nonce for `plaintextSize` bytes, wrapped for every recipient.
    public init(recipients: [AgeRecipient], plaintextSize: Int64) throws {
        let encryptor = try AgeEncryptor(recipients: recipients)
        self.init(prefix: encryptor.prefix, headerLength: encryptor.prefix.count - 16, payloadKey: encryptor.payloadKey,
                  plaintextSize: plaintextSize)
    }

    init(prefix: [UInt8], headerLength: Int, payloadKey: AgePayloadKey, plaintextSize: Int64) {
        self.prefix = prefix
        self.headerLength = headerLength
        self.payloadKey = payloadKey
        self.plaintextSize = plaintextSize
    }

    /// The number of payload chunks: at least one (an empty file has one empty final chunk).
    var chunkCount: Int64 {
        max(1, (plaintextSize + Int64(AgePayloadKey.chunkSize) - 1) / Int64(AgePayloadKey.chunkSize))
    }

    /// The encrypted file's size.
    public var size: Int64 { Int64(prefix.count) + plaintextSize + 16 * chunkCount }

    /// The SHA-256 of the header alone, recorded beside the whole file's so that a damaged header is
    /// told apart from a file for other recipients.
    public var headerSHA256: String { SHA256.hash(data: prefix[0..<headerLength]).hexString }

    public static func == (lhs: StagedEncryption, rhs: StagedEncryption) -> Bool {
        lhs.prefix == rhs.prefix && lhs.plaintextSize == rhs.plaintextSize
    }

    public func hash(into hasher: inout Hasher) { hasher.combine(prefix) }

    /// Encrypts the plaintext at `path` once, to learn the size and SHA-256 of what sinks will store,
    /// and the SHA-256 of the payload alone (everything after the header: a rekey changes only the
    /// header, so the payload's hash still holds after it).
    public func digests(ofPlaintext path: String) throws -> (file: FileDigest, payloadSHA256: String) {
        let reader = StagedFileReader(plaintext: try FileReader(path: path), encryption: self)
        var whole = DigestAccumulator()
        var payload = SHA256()
        var seen = 0
        try reader.forEachChunk { chunk in
            whole.update(chunk)
            let skip = min(chunk.count, max(0, headerLength - seen))
            payload.update(bufferPointer: UnsafeRawBufferPointer(rebasing: chunk[skip...]))
            seen += chunk.count
        }
        let result = whole.finalize()
        guard result.size == size else {
            throw BackupError(.io, "the staged file \(path) changed while it was encrypted: \(result.size) bytes of ciphertext, expected \(size)")
        }
        return (result, payload.finalize().hexString)
    }
}

/// Reads a staged file as a sink stores it: its own bytes, or (with ``StagedEncryption``) their age
/// encryption, made from the plaintext at the same offset. Reads go front to back (``read(into:)``) or
/// at any offset (``read(into:at:)``, for parts of a multipart upload).
public final class StagedFileReader: ChunkReader {
    let plaintext: FileReader
    let encryption: StagedEncryption?
    private var position: Int64 = 0
    /// The last chunk sealed, so that reads smaller than a chunk seal it once.
    private var sealed: (index: Int64, bytes: [UInt8])?
    private var plainBuffer = [UInt8](repeating: 0, count: AgePayloadKey.chunkSize)
    /// Counts every byte handed out, for the upload's progress.
    private let progress: ByteCounter?

    init(plaintext: FileReader, encryption: StagedEncryption?, progress: ByteCounter? = nil) {
        self.plaintext = plaintext
        self.encryption = encryption
        self.progress = progress
    }

    /// The staged file's path (the plaintext's, for an encrypted view).
    public var path: String { plaintext.path }

    public func read(into buffer: UnsafeMutableRawBufferPointer) throws -> Int {
        let count = try read(into: buffer, at: position)
        position += Int64(count)
        return count
    }

    /// Reads up to `buffer.count` bytes at `offset`; 0 at the end.
    public func read(into buffer: UnsafeMutableRawBufferPointer, at offset: Int64) throws -> Int {
        let count = try readStored(into: buffer, at: offset)
        progress?.add(count)
        return count
    }

    private func readStored(into buffer: UnsafeMutableRawBufferPointer, at offset: Int64) throws -> Int {
        guard let encryption else { return try plaintext.read(into: buffer, at: offset) }
        var filled = 0
        var offset = offset
        let prefixCount = Int64(encryption.prefix.count)
        while filled < buffer.count, offset < encryption.size {
            let source: ArraySlice<UInt8>
            if offset < prefixCount {
                source = encryption.prefix[Int(offset)...]
            } else {
                let relative = offset - prefixCount
                let index = relative / Int64(AgePayloadKey.sealedChunkSize)
                let chunk = try sealedChunk(index, encryption)
                source = chunk[Int(relative % Int64(AgePayloadKey.sealedChunkSize))...]
            }
            let count = min(source.count, buffer.count - filled)
            source.withUnsafeBytes { bytes in
                (buffer.baseAddress! + filled).copyMemory(from: bytes.baseAddress!, byteCount: count)
            }
            filled += count
            offset += Int64(count)
        }
        return filled
    }

    private func sealedChunk(_ index: Int64, _ encryption: StagedEncryption) throws -> [UInt8] {
        if let sealed, sealed.index == index { return sealed.bytes }
        let start = index * Int64(AgePayloadKey.chunkSize)
        let length = Int(min(Int64(AgePayloadKey.chunkSize), encryption.plaintextSize - start))
        var got = 0
        try plainBuffer.withUnsafeMutableBytes { buffer in
            while got < length {
                let count = try plaintext.read(into: UnsafeMutableRawBufferPointer(rebasing: buffer[got..<length]), at: start + Int64(got))
                guard count > 0 else { break }
                got += count
            }
        }
        guard got == length else {
            throw BackupError(.io, "the staged file \(plaintext.path) ended at \(start + Int64(got)) bytes while it was encrypted; it was staged with \(encryption.plaintextSize)")
        }
        let bytes = try encryption.payloadKey.seal(plainBuffer[0..<length], counter: UInt64(index), final: index == encryption.chunkCount - 1)
        sealed = (index, bytes)
        return bytes
    }
}

/// Hashes an age file as it streams past, its header and its payload apart, for the checks against a
/// sealed manifest (``SealedManifest/SealedArtifact/matches(size:header:payloadSHA256:)``). The header
/// ends with the line that starts with `---`.
struct CiphertextHasher {
    private var header: [UInt8] = []
    private var headerSize: Int?
    private var payload = SHA256()
    private(set) var size: Int64 = 0

    mutating func update(_ bytes: UnsafeRawBufferPointer) {
        size += Int64(bytes.count)
        guard headerSize == nil else {
            payload.update(bufferPointer: bytes)
            return
        }
        let before = header.count
        header += bytes
        if let end = AgeHeader.end(in: header) ?? (header.count > AgeHeader.maximumLength ? header.count : nil) {
            headerSize = end
            payload.update(bufferPointer: UnsafeRawBufferPointer(rebasing: bytes[(end - before)...]))
            header.removeSubrange(end...)
        }
    }

    /// The size, the header's size and SHA-256, and the payload's SHA-256.
    func finalize() -> (size: Int64, header: (size: Int, sha256: String), payloadSHA256: String) {
        (size, (header.count, SHA256.hash(data: header).hexString), payload.finalize().hexString)
    }
}
