import Foundation
import Glibc

/// Gives a stored artifact as a file on this host: in place when the sink keeps files locally, else
/// downloaded into the staging directory and checked against the manifest's size and SHA-256 before
/// anything uses it.
enum ArtifactAccess {
    static func withLocalFile<T: Sendable>(
        _ artifact: ManifestArtifact, in sink: any Sink, staging: String, _ body: (String) async throws -> T
    ) async throws -> T {
        let (path, isStaged) = try await localFile(artifact, in: sink, staging: staging)
        defer { if isStaged { unlink(path) } }
        return try await body(path)
    }

    /// The artifact as a file on this host: the sink's own file, or a copy downloaded into `staging`
    /// (`isStaged`) and checked against the manifest's size and SHA-256. A staged copy stays until the
    /// caller removes it (or the staging directory), so it can be checked and then used without a
    /// second download.
    static func localFile(_ artifact: ManifestArtifact, in sink: any Sink, staging: String) async throws -> (path: String, isStaged: Bool) {
        // The manifest's names were validated when it was read; a name that is not ours is never a path.
        guard ArtifactName.parse(artifact.name) != nil else {
            throw BackupError(.restoreFailed, "'\(artifact.name)' is not an artifact name; refusing to read or stage it")
        }
        if let path = sink.localPath(of: artifact.name), FileManager.default.fileExists(atPath: path) {
            return (path, false)
        }
        try FileManager.default.createDirectory(atPath: staging, withIntermediateDirectories: true, attributes: [.posixPermissions: 0o700])
        let path = staging + "/.download-\(artifact.name)"
        // A name planted in the staging directory is removed, never followed: the copy is a new file.
        unlink(path)
        let fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0o600)
        guard fd >= 0 else { throw fileSystemError("cannot create", path) }
        var kept = false
        defer { if !kept { unlink(path) } }
        let destination = ByteDestination { bytes in try writeAll(fd, bytes, path: path) }
        do {
            try await sink.get(artifact.name, into: destination)
            close(fd)
        } catch {
            close(fd)
            throw BackupError.wrap(error, as: .sinkFailed, "sink '\(sink.name)': reading \(artifact.name)")
        }
        let digest = destination.digest
        guard digest == artifact.digest else {
            throw BackupError(.verificationFailed, "\(artifact.name) from sink '\(sink.name)' is \(digest.size) bytes with SHA-256 \(digest.sha256), but the manifest says \(artifact.size) bytes with \(artifact.sha256): the stored copy is damaged")
        }
        kept = true
        return (path, true)
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
