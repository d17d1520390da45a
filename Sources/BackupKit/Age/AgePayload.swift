import Crypto
import Foundation

/// The payload key and chunk nonces of an age file (STREAM over ChaCha20-Poly1305, 64 KiB chunks).
struct AgePayloadKey {
    static let chunkSize = 64 << 10
    static let sealedChunkSize = chunkSize + 16
    let key: SymmetricKey

    init(fileKey: [UInt8], nonce: [UInt8]) {
        key = HKDF<SHA256>.deriveKey(inputKeyMaterial: SymmetricKey(data: fileKey), salt: nonce, info: Array("payload".utf8), outputByteCount: 32)
    }

    /// The 12-byte nonce of chunk `counter`: an 11-byte big-endian counter, then 1 for the final chunk.
    static func nonce(_ counter: UInt64, final: Bool) -> ChaChaPoly.Nonce {
        var bytes = [UInt8](repeating: 0, count: 12)
        for index in 0..<8 { bytes[10 - index] = UInt8(truncatingIfNeeded: counter >> (8 * UInt64(index))) }
        bytes[11] = final ? 1 : 0
        return try! ChaChaPoly.Nonce(data: bytes)
    }

    func seal(_ chunk: some DataProtocol, counter: UInt64, final: Bool) throws -> [UInt8] {
        let box = try ChaChaPoly.seal(chunk, using: key, nonce: Self.nonce(counter, final: final))
        return Array(box.ciphertext) + Array(box.tag)
    }

    func open(_ sealed: ArraySlice<UInt8>, counter: UInt64, final: Bool) -> [UInt8]? {
        guard sealed.count >= 16,
              let box = try? ChaChaPoly.SealedBox(nonce: Self.nonce(counter, final: final), ciphertext: sealed.dropLast(16), tag: sealed.suffix(16)),
              let plain = try? ChaChaPoly.open(box, using: key) else { return nil }
        return Array(plain)
    }
}

/// Encrypts a stream into an age v1 file: the header, a 16-byte nonce, then 64 KiB chunks. Everything
/// after the header is determined by the file key and nonce, so the same plaintext always gives the
/// same bytes: a retried upload can encrypt again from any chunk boundary.
public final class AgeEncryptor {
    let fileKey: [UInt8]
    let nonce: [UInt8]
    let payloadKey: AgePayloadKey
    /// The header and nonce: the file's first bytes.
    public let prefix: [UInt8]
    private var pending: [UInt8] = []
    private var counter: UInt64 = 0

    /// A new file key and nonce, wrapped for every recipient.
    public convenience init(recipients: [AgeRecipient]) throws {
        let fileKey = (0..<16).map { _ in UInt8.random(in: .min ... .max) }
        let stanzas = try recipients.map { try $0.stanza(wrapping: fileKey) }
        try self.init(header: AgeHeader(stanzas: stanzas, fileKey: fileKey), fileKey: fileKey,
                      nonce: (0..<16).map { _ in UInt8.random(in: .min ... .max) })
    }

    init(header: AgeHeader, fileKey: [UInt8], nonce: [UInt8]) throws {
        guard !header.stanzas.isEmpty else { throw BackupError(.invalidPlan, "age encryption needs at least one recipient") }
        self.fileKey = fileKey
        self.nonce = nonce
        payloadKey = AgePayloadKey(fileKey: fileKey, nonce: nonce)
        prefix = header.encoded + nonce
    }

    /// Encrypts `bytes`, giving each whole chunk to `output` once the next byte shows it is not the last.
    public func update(_ bytes: UnsafeRawBufferPointer, output: ([UInt8]) throws -> Void) throws {
        pending.append(contentsOf: bytes)
        var start = 0
        while pending.count - start > AgePayloadKey.chunkSize {
            try output(payloadKey.seal(pending[start..<start + AgePayloadKey.chunkSize], counter: counter, final: false))
            counter += 1
            start += AgePayloadKey.chunkSize
        }
        if start > 0 { pending.removeFirst(start) }
    }

    /// Encrypts what is left as the final chunk (empty only when the whole payload is).
    public func finish(output: ([UInt8]) throws -> Void) throws {
        try output(payloadKey.seal(pending, counter: counter, final: true))
        pending = []
    }

    /// `bytes` encrypted whole to `recipients`: for small things (manifests, identity files).
    public static func encrypt(_ bytes: [UInt8], to recipients: [AgeRecipient]) throws -> [UInt8] {
        let encryptor = try AgeEncryptor(recipients: recipients)
        var sealed = encryptor.prefix
        try bytes.withUnsafeBytes { try encryptor.update($0) { sealed += $0 } }
        try encryptor.finish { sealed += $0 }
        return sealed
    }

    /// The size of the age file for `plaintextSize` bytes of payload.
    public func encryptedSize(plaintextSize: Int64) -> Int64 {
        let chunks = max(1, (plaintextSize + Int64(AgePayloadKey.chunkSize) - 1) / Int64(AgePayloadKey.chunkSize))
        return Int64(prefix.count) + plaintextSize + 16 * chunks
    }
}

/// Decrypts an age v1 file as it streams in: the header (opened with the first identity that matches,
/// then its MAC checked), the nonce, then each chunk, released only once it is authenticated. The end
/// of the file must be the end of a valid final chunk.
public final class AgeDecryptor {
    private let identities: [AgeIdentity]
    private var buffer: [UInt8] = []
    private var payloadKey: AgePayloadKey?
    private var headerLength: Int?
    private var counter: UInt64 = 0
    /// The header's stanzas, once it was read.
    private(set) var header: AgeHeader?

    public init(identities: [AgeIdentity]) {
        self.identities = identities
    }

    /// The age file `bytes` decrypted whole with `identities`: for small things (manifests, identity
    /// files). Throws ``AgeError``.
    public static func decrypt(_ bytes: [UInt8], identities: [AgeIdentity]) throws -> [UInt8] {
        let decryptor = AgeDecryptor(identities: identities)
        var plain: [UInt8] = []
        try bytes.withUnsafeBytes { try decryptor.update($0) { plain += $0 } }
        try decryptor.finish { plain += $0 }
        return plain
    }

    public func update(_ bytes: UnsafeRawBufferPointer, output: ([UInt8]) throws -> Void) throws {
        buffer.append(contentsOf: bytes)
        if payloadKey == nil {
            guard try readHeader(atEnd: false) else { return }
        }
        guard let key = payloadKey else { return }
        var start = 0
        while buffer.count - start > AgePayloadKey.sealedChunkSize {
            let chunk = buffer[start..<start + AgePayloadKey.sealedChunkSize]
            if let plain = key.open(chunk, counter: counter, final: false) {
                try output(plain)
            } else if let plain = key.open(chunk, counter: counter, final: true) {
                // A whole final chunk with more bytes after it: what it holds is genuine, the rest is not.
                try output(plain)
                throw AgeError.payload("there are bytes after the final chunk (\(counter + 1))")
            } else {
                throw AgeError.payload("chunk \(counter + 1) fails its authentication")
            }
            counter += 1
            start += AgePayloadKey.sealedChunkSize
        }
        if start > 0 { buffer.removeFirst(start) }
    }

    public func finish(output: ([UInt8]) throws -> Void) throws {
        if payloadKey == nil { _ = try readHeader(atEnd: true) }
        guard let key = payloadKey else { throw AgeError.header("the file ends inside its header") }
        guard !buffer.isEmpty else { throw AgeError.payload("the file ends without a final chunk (truncated)") }
        guard let plain = key.open(buffer[...], counter: counter, final: true) else {
            if buffer.count == AgePayloadKey.sealedChunkSize, let plain = key.open(buffer[...], counter: counter, final: false) {
                try output(plain)
                throw AgeError.payload("the file ends after chunk \(counter + 1) without a final chunk (truncated)")
            }
            throw AgeError.payload("the final chunk (\(counter + 1)) fails its authentication (truncated, extended or changed)")
        }
        guard !plain.isEmpty || counter == 0 else { throw AgeError.payload("the final chunk is empty") }
        try output(plain)
        buffer = []
    }

    /// Parses the header once it is all in the buffer, opens it and moves past it and the nonce;
    /// false while more bytes are needed.
    private func readHeader(atEnd: Bool) throws -> Bool {
        if header == nil {
            guard atEnd || AgeHeader.end(in: buffer) != nil || buffer.count > AgeHeader.maximumLength else { return false }
            let parsed = try AgeHeader(parsing: buffer)
            var opened: [UInt8]?
            for identity in identities where opened == nil { opened = try identity.unwrap(parsed.stanzas) }
            guard let fileKey = opened else { throw AgeError.noMatch }
            try parsed.verifyMAC(fileKey: fileKey)
            header = parsed
            headerLength = parsed.length
            fileKeyForPayload = fileKey
        }
        guard let headerLength, let fileKey = fileKeyForPayload else { return false }
        guard buffer.count >= headerLength + 16 else {
            if atEnd { throw AgeError.header("the file ends before the payload's 16-byte nonce") }
            return false
        }
        payloadKey = AgePayloadKey(fileKey: fileKey, nonce: Array(buffer[headerLength..<headerLength + 16]))
        buffer.removeFirst(headerLength + 16)
        fileKeyForPayload = nil
        return true
    }

    private var fileKeyForPayload: [UInt8]?
}
