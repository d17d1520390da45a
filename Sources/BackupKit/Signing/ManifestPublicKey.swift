import Crypto
import Foundation

/// The Ed25519 public key that checks a plan's manifests, written `ed25519:<base64>` (as
/// `backupctl key` prints it and `signing.public_key` takes it).
public struct ManifestPublicKey: Sendable, Hashable {
    let key: Curve25519.Signing.PublicKey
    /// Where the key came from, for messages: `signing.public_key`, or the key file's path.
    public var origin: String

    public init(_ key: Curve25519.Signing.PublicKey, origin: String) {
        self.key = key
        self.origin = origin
    }

    /// Parses `ed25519:<base64 of 32 bytes>`.
    public init(text: String, origin: String) throws {
        let trimmed = text.trimmingCharacters(in: .whitespacesAndNewlines)
        guard trimmed.hasPrefix("ed25519:"), let raw = Data(base64Encoded: String(trimmed.dropFirst("ed25519:".count))),
              let key = try? Curve25519.Signing.PublicKey(rawRepresentation: raw)
        else {
            // The value is not shown: a private key pasted here by mistake must not reach a log or an alert.
            throw BackupError(.invalidPlan, "\(origin): the value is not a public key (\(trimmed.count) characters); expected ed25519:<base64>, as `backupctl key` prints it")
        }
        self.init(key, origin: origin)
    }

    /// `ed25519:<base64>`.
    public var text: String { "ed25519:" + key.rawRepresentation.base64EncodedString() }

    /// A short ID: the first 16 hex digits of the SHA-256 of the raw key.
    public var id: String { String(SHA256.hash(data: key.rawRepresentation).hexString.prefix(16)) }

    func isValidSignature(_ signature: Data, for bytes: [UInt8]) -> Bool {
        key.isValidSignature(signature, for: bytes)
    }

    public static func == (lhs: ManifestPublicKey, rhs: ManifestPublicKey) -> Bool {
        lhs.key.rawRepresentation == rhs.key.rawRepresentation
    }

    public func hash(into hasher: inout Hasher) { hasher.combine(key.rawRepresentation) }
}
