import Foundation

/// Reads identity files as `age -i` does: `AGE-SECRET-KEY-1…` lines (blank lines and `#` comments
/// ignored), or such a file itself encrypted with a passphrase (`backupctl key generate --passphrase`,
/// or `age-keygen | age -p`), opened with the passphrase that `passphrase` supplies.
public enum IdentityFile {
    /// The variable that names identity files for restores and full verifies (several: separated by `:`).
    public static let variable = "BACKUP_ENCRYPTION_IDENTITY_FILE"
    /// The variable that gives the passphrase of a passphrase-protected identity file, for scripts; on
    /// a terminal, backupctl asks instead.
    public static let passphraseVariable = "BACKUP_ENCRYPTION_PASSPHRASE"

    /// The largest identity file read.
    static let maximumBytes = 1 << 20

    /// The identities in the file at `path`. `passphrase` is asked only for a passphrase-protected file.
    /// No error message ever holds a line of the file.
    public static func load(_ path: String, passphrase: () throws -> String) throws -> [AgeIdentity] {
        guard let data = FileManager.default.contents(atPath: path) else {
            throw BackupError(.usage, "cannot read the identity file \(path): \(String(cString: strerror(errno))). Give the file `backupctl key generate` wrote (--identity FILE or \(variable))")
        }
        guard data.count <= maximumBytes else {
            throw BackupError(.usage, "the identity file \(path) is \(formatBytes(Int64(data.count))): not an identity file")
        }
        let bytes = Array(data)
        if bytes.starts(with: AgeHeader.versionLine) {
            let secret = try passphrase()
            let plain: [UInt8]
            do {
                plain = try AgeDecryptor.decrypt(bytes, identities: [.scrypt(passphrase: secret)])
            } catch AgeError.noMatch {
                throw BackupError(.wrongPassphrase, "the identity file \(path) is protected by a passphrase, and the passphrase given does not open it")
            } catch let error as AgeError {
                throw BackupError(.encryptedDataDamaged, "the identity file \(path) is passphrase-protected but damaged: \(error)")
            }
            return try parse(String(decoding: plain, as: UTF8.self), path: path)
        }
        return try parse(String(decoding: bytes, as: UTF8.self), path: path)
    }

    static func parse(_ text: String, path: String) throws -> [AgeIdentity] {
        var identities: [AgeIdentity] = []
        for (number, line) in text.split(separator: "\n", omittingEmptySubsequences: false).enumerated() {
            let trimmed = line.trimmingCharacters(in: .whitespacesAndNewlines)
            guard !trimmed.isEmpty, !trimmed.hasPrefix("#") else { continue }
            guard let identity = try? AgeIdentity(parsing: trimmed) else {
                throw BackupError(.usage, "the identity file \(path) line \(number + 1) is not an identity (AGE-SECRET-KEY-1…); the line is not shown")
            }
            identities.append(identity)
        }
        guard !identities.isEmpty else {
            throw BackupError(.usage, "the identity file \(path) holds no identity (AGE-SECRET-KEY-1… line)")
        }
        return identities
    }

    /// Writes `identity` in age-keygen's layout to a new file at `path` (mode 0600, never replacing a
    /// file), encrypted with `passphrase` when one is given.
    public static func write(_ identity: AgeIdentity, to path: String, passphrase: String?, now: Date = Date()) throws {
        guard let secret = identity.text, let recipient = identity.recipient.text else {
            throw BackupError(.usage, "only an X25519 identity can be written to a file")
        }
        let text = "# created: \(ISO8601DateFormatter().string(from: now))\n# public key: \(recipient)\n\(secret)\n"
        var bytes = Array(text.utf8)
        if let passphrase {
            bytes = try AgeEncryptor.encrypt(bytes, to: [.scrypt(passphrase: passphrase, workFactor: AgeIdentity.defaultWorkFactor)])
        }
        try AtomicFileWriter.writeNew(bytes, to: path)
    }
}
