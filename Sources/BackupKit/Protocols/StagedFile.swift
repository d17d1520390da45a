import Foundation

/// A finished file in the staging area: what a sink's ``Sink/put(_:from:)`` reads.
///
/// For an encrypted sink, ``encryption`` is set: the sink stores the age encryption of the file at
/// ``path``, made while it reads, and ``digest`` is the ciphertext's. Sinks read through ``open()``,
/// which gives the stored bytes either way; only a sink that checks ``encryption`` is nil may use the
/// file at ``path`` itself (a hard link, a rename).
public struct StagedFile: Sendable, Hashable {
    public var path: String
    /// The size and SHA-256 of the bytes the sink stores.
    public var digest: FileDigest
    /// How the bytes at ``path`` are encrypted on their way into the sink; nil: stored as they are.
    public var encryption: StagedEncryption?
    /// For an encrypted view, the SHA-256 of everything after the age header.
    public var payloadSHA256: String?
    /// Counts the bytes a sink reads through ``open()``, for the upload's progress; not part of the
    /// file's identity (equality and hashing leave it out).
    package var progress: ByteCounter?

    public init(path: String, digest: FileDigest, encryption: StagedEncryption? = nil, payloadSHA256: String? = nil) {
        self.path = path
        self.digest = digest
        self.encryption = encryption
        self.payloadSHA256 = payloadSHA256
    }

    /// Writes `bytes` as the file at `path` (mode 0600, fsync, rename) and stages it.
    public init(writing bytes: [UInt8], to path: String) throws {
        self.init(path: path, digest: try AtomicFileWriter.write(bytes, to: path))
    }

    /// This file as a sink encrypting to `recipients` stores it: a new file key, and the digest of the
    /// ciphertext (one pass of encrypting and hashing, nothing written).
    public func encrypted(to recipients: [AgeRecipient]) throws -> StagedFile {
        let encryption = try StagedEncryption(recipients: recipients, plaintextSize: digest.size)
        let (file, payload) = try encryption.digests(ofPlaintext: path)
        return StagedFile(path: path, digest: file, encryption: encryption, payloadSHA256: payload)
    }

    /// Opens the stored bytes for reading in chunks, front to back or at any offset. The bytes read
    /// count as the upload's progress.
    public func open() throws -> StagedFileReader {
        try open(countingProgress: true)
    }

    /// Opens the stored bytes; with `countingProgress` false, what is read does not count as progress
    /// (a sink that reads a part twice, to hash it before it sends it, hashes through this).
    package func open(countingProgress: Bool) throws -> StagedFileReader {
        StagedFileReader(plaintext: try FileReader(path: path), encryption: encryption, progress: countingProgress ? progress : nil)
    }

    public static func == (lhs: StagedFile, rhs: StagedFile) -> Bool {
        lhs.path == rhs.path && lhs.digest == rhs.digest && lhs.encryption == rhs.encryption && lhs.payloadSHA256 == rhs.payloadSHA256
    }

    public func hash(into hasher: inout Hasher) {
        hasher.combine(path)
        hasher.combine(digest)
        hasher.combine(encryption)
        hasher.combine(payloadSHA256)
    }
}
