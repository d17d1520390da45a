import Crypto
import Foundation
import Glibc

/// A plan's Ed25519 signing key: every manifest the plan writes is signed with it
/// (``Manifest/signed(with:)``). It lives in a file of mode 0600, made on first use in the plan's state
/// directory unless the plan names another (`signing.key_file`). Whoever holds it can write sets that
/// restore as genuine, so it is never stored in a sink; a restore host needs only the public key.
public struct ManifestSigningKey: Sendable {
    let key: Curve25519.Signing.PrivateKey
    /// The file the key was read from or written to.
    public let path: String

    /// The public key that checks this key's signatures.
    public var publicKey: ManifestPublicKey { ManifestPublicKey(key.publicKey, origin: path) }

    func sign(_ bytes: [UInt8]) throws -> Data { try key.signature(for: bytes) }

    private static let header = "# BackupKit manifest signing key (Ed25519). Keep it secret, keep a copy apart from the backups.\n"
    private static let prefix = "ed25519-private:"

    /// Reads the key at `path`. The file must be readable by its owner only.
    public static func load(from path: String) throws -> ManifestSigningKey {
        var info = stat()
        guard stat(path, &info) == 0 else {
            throw fileSystemError("cannot read the signing key", path)
        }
        guard info.st_uid == geteuid() else {
            throw BackupError(.invalidPlan, "signing key \(path) belongs to user \(info.st_uid), not to this user (\(geteuid())): someone else may have put it there. Check it, then `chown` it")
        }
        guard info.st_mode & 0o077 == 0 else {
            throw BackupError(.invalidPlan, "signing key \(path) is readable by others (mode \(String(info.st_mode & 0o777, radix: 8))): run `chmod 600 \(path)`")
        }
        guard info.st_size < 4096, let text = try? String(contentsOfFile: path, encoding: .utf8) else {
            throw BackupError(.invalidPlan, "signing key \(path) cannot be read as a BackupKit key file")
        }
        let line = text.split(separator: "\n").first { $0.hasPrefix(prefix) }
        guard let line, let raw = Data(base64Encoded: String(line.dropFirst(prefix.count)).trimmingCharacters(in: .whitespaces)),
              let key = try? Curve25519.Signing.PrivateKey(rawRepresentation: raw)
        else {
            throw BackupError(.invalidPlan, "signing key \(path) holds no '\(prefix)<base64>' line: it is damaged or not a BackupKit key file")
        }
        return ManifestSigningKey(key: key, path: path)
    }

    /// Reads the key at `path`, or makes a new one there (mode 0600, in a directory made 0700 if
    /// missing). Two processes making it at once both end with the same key: it is written under a
    /// temporary name and linked into place, never over a key that is there.
    public static func loadOrCreate(at path: String) throws -> (key: ManifestSigningKey, created: Bool) {
        if FileManager.default.fileExists(atPath: path) { return (try load(from: path), false) }
        let directory = (path as NSString).deletingLastPathComponent
        if !directory.isEmpty {
            try makeDirectory(directory, purpose: "the directory of the signing key")
        }
        let key = Curve25519.Signing.PrivateKey()
        let text = header + prefix + key.rawRepresentation.base64EncodedString() + "\n"
        let temporary = path + ".tmp-\(getpid())-\(UInt32.random(in: .min ... .max))"
        _ = try AtomicFileWriter.write(Array(text.utf8), to: temporary, mode: 0o600)
        defer { unlink(temporary) }
        if link(temporary, path) != 0 {
            guard errno == EEXIST else { throw fileSystemError("cannot create the signing key", path) }
            return (try load(from: path), false)
        }
        try syncDirectory(directory.isEmpty ? "." : directory)
        return (ManifestSigningKey(key: key, path: path), true)
    }
}
