import Foundation
import Glibc

/// Gives a stored artifact as a file on this host: in place when the sink keeps files locally, else
/// downloaded into the staging directory and checked against the manifest's size and SHA-256 before
/// anything uses it.
enum ArtifactAccess {
    static func withLocalFile<T: Sendable>(
        _ artifact: ManifestArtifact, in sink: any Sink, staging: String, sealed: SealedManifest.SealedArtifact? = nil,
        identities: [AgeIdentity] = [], progress: ProgressHandler? = nil, _ body: (String) async throws -> T
    ) async throws -> T {
        let (path, isStaged) = try await localFile(artifact, in: sink, staging: staging, sealed: sealed, identities: identities, progress: progress)
        defer { if isStaged { unlink(path) } }
        return try await body(path)
    }

    /// The artifact as a file on this host: the sink's own file, or a copy downloaded into `staging`
    /// (`isStaged`) and checked against the manifest's size and SHA-256. A staged copy stays until the
    /// caller removes it (or the staging directory), so it can be checked and then used without a
    /// second download.
    ///
    /// With `sealed` (an encrypted sink's record of the artifact), the sink's `.age` copy is decrypted
    /// with `identities` on its way into `staging`; the ciphertext must have the size and SHA-256 the
    /// signed sealed manifest records, and the plaintext the full manifest's, or nothing is kept.
    /// A download is reported through `progress` as a ``PhaseProgress/Phase/download(sink:)`` phase.
    static func localFile(_ artifact: ManifestArtifact, in sink: any Sink, staging: String, sealed: SealedManifest.SealedArtifact? = nil,
                          identities: [AgeIdentity] = [], progress: ProgressHandler? = nil) async throws -> (path: String, isStaged: Bool) {
        // The manifest's names were validated when it was read; a name that is not ours is never a path.
        guard ArtifactName.parse(artifact.name) != nil || ArtifactName.isPack(artifact.name) else {
            throw BackupError(.restoreFailed, "'\(artifact.name)' is not an artifact name; refusing to read or stage it")
        }
        if let sealed {
            return (try await decryptedFile(artifact, sealed: sealed, in: sink, staging: staging, identities: identities, progress: progress), true)
        }
        if let path = sink.localPath(of: artifact.name), FileManager.default.fileExists(atPath: path) {
            return (path, false)
        }
        let (path, fd) = try newDownloadFile(for: artifact, in: staging)
        var kept = false
        defer { if !kept { unlink(path) } }
        let digest: FileDigest
        do {
            digest = try await withPhaseProgress(.download(sink: sink.name), artifact: artifact.name, total: artifact.size, report: progress) { counter in
                let destination = ByteDestination { bytes in
                    try writeAll(fd, bytes, path: path)
                    counter.add(bytes.count)
                }
                try await SinkCallLog.run("get", sink, artifact.name) { try await sink.get(artifact.name, into: destination) }
                return destination.digest
            }
            close(fd)
        } catch {
            close(fd)
            throw BackupError.wrap(error, as: .sinkFailed, "sink '\(sink.name)': reading \(artifact.name)")
        }
        guard digest == artifact.digest else {
            throw BackupError(.verificationFailed, "\(artifact.name) from sink '\(sink.name)' is \(digest.size) bytes with SHA-256 \(digest.sha256), but the manifest says \(artifact.size) bytes with \(artifact.sha256): the stored copy is damaged")
        }
        kept = true
        return (path, true)
    }
}

extension ArtifactAccess {
    /// A new file in `staging` for a download of `artifact`, opened for writing (mode 0600). A name
    /// planted in the staging directory is removed, never followed: the copy is a new file.
    static func newDownloadFile(for artifact: ManifestArtifact, in staging: String) throws -> (path: String, fd: Int32) {
        try makeDirectory(staging, purpose: "the staging directory")
        let path = staging + "/.download-\(artifact.name)"
        unlink(path)
        let fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0o600)
        guard fd >= 0 else { throw fileSystemError("cannot create", path) }
        return (path, fd)
    }

    /// Downloads the encrypted copy of `artifact`, decrypting it into a new file in `staging`.
    static func decryptedFile(_ artifact: ManifestArtifact, sealed: SealedManifest.SealedArtifact, in sink: any Sink, staging: String,
                              identities: [AgeIdentity], progress: ProgressHandler? = nil) async throws -> String {
        let what = "\(sealed.key) in sink '\(sink.name)'"
        guard !identities.isEmpty else { throw AgeFileReading.identityNeeded(what) }
        let (path, fd) = try newDownloadFile(for: artifact, in: staging)
        var kept = false
        defer { if !kept { unlink(path) } }
        let state = DecryptionState(identities: identities)
        var transferError: (any Error)?
        do {
            try await withPhaseProgress(.download(sink: sink.name), artifact: artifact.name, total: sealed.size, report: progress) { counter in
                let destination = ByteDestination { bytes in
                    try state.feed(bytes) { plain in try plain.withUnsafeBytes { try writeAll(fd, $0, path: path) } }
                    counter.add(bytes.count)
                }
                try await SinkCallLog.run("get", sink, sealed.key) { try await sink.get(sealed.key, into: destination) }
                try state.finish { plain in try plain.withUnsafeBytes { try writeAll(fd, $0, path: path) } }
            }
        } catch {
            transferError = error
        }
        close(fd)
        let (ageError, plainDigest) = (state.ageError, state.plainDigest.finalize())
        let cipher = state.cipher.finalize()
        if let ageError {
            let headerIsSigned = sealed.matchesHeader(cipher.header)
            let shorter = cipher.size < sealed.acceptedSizes.min()!
            throw AgeFileReading.failure(ageError, what: what, headerChanged: !headerIsSigned, shorterThanSigned: shorter)
        }
        if let transferError { throw BackupError.wrap(transferError, as: .sinkFailed, "sink '\(sink.name)': reading \(sealed.key)") }
        guard sealed.matches(size: cipher.size, header: cipher.header, payloadSHA256: cipher.payloadSHA256) else {
            throw SealedManifest.replaced(what, stored: cipher, sealed: sealed)
        }
        guard plainDigest == artifact.digest else {
            throw BackupError(.verificationFailed, "\(what) decrypts to \(plainDigest.size) bytes with SHA-256 \(plainDigest.sha256), but the manifest says \(artifact.size) bytes with \(artifact.sha256): it is not used")
        }
        kept = true
        return path
    }
}

/// A download being decrypted: the decryptor, the header's hash, and the first age error met.
/// `@unchecked Sendable`: only ``ByteDestination``'s handler (which its lock runs one at a time) and,
/// after the transfer, the task that started it touch it.
final class DecryptionState: @unchecked Sendable {
    let decryptor: AgeDecryptor
    var cipher = CiphertextHasher()
    var plainDigest = DigestAccumulator()
    var ageError: AgeError?

    init(identities: [AgeIdentity]) {
        decryptor = AgeDecryptor(identities: identities)
    }

    func feed(_ bytes: UnsafeRawBufferPointer, output: ([UInt8]) throws -> Void) throws {
        cipher.update(bytes)
        do {
            try decryptor.update(bytes) { plain in
                plain.withUnsafeBytes { plainDigest.update($0) }
                try output(plain)
            }
        } catch let error as AgeError {
            ageError = error
            throw error
        }
    }

    func finish(output: ([UInt8]) throws -> Void) throws {
        do {
            try decryptor.finish { plain in
                plain.withUnsafeBytes { plainDigest.update($0) }
                try output(plain)
            }
        } catch let error as AgeError {
            ageError = error
            throw error
        }
    }
}

/// Writes all of `bytes` to a descriptor, retrying short writes.
func writeAll(_ fd: Int32, _ bytes: UnsafeRawBufferPointer, path: String) throws {
    var offset = 0
    while offset < bytes.count {
        let count = write(fd, bytes.baseAddress! + offset, bytes.count - offset)
        if count < 0 {
            if errno == EINTR { continue }
            throw fileSystemError("cannot write", path)
        }
        offset += count
    }
}
