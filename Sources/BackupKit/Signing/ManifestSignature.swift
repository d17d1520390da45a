import Crypto
import Foundation

/// A manifest's Ed25519 signature, stored in the manifest as `signature`. It covers the manifest
/// without this field: every name, size and SHA-256 the manifest lists (see ``Manifest/signedBytes()``).
public struct ManifestSignature: Sendable, Codable, Hashable {
    /// Always `ed25519`.
    public var algorithm: String
    /// The signing key's ID (``ManifestPublicKey/id``), so that a check can say which key signed it.
    public var keyID: String
    /// The signature, base64.
    public var value: String

    public static let algorithm = "ed25519"

    public init(keyID: String, value: String) {
        algorithm = Self.algorithm
        self.keyID = keyID
        self.value = value
    }

    enum CodingKeys: String, CodingKey {
        case algorithm, value
        case keyID = "key_id"
    }
}

extension ManifestSignature {
    /// The signature of `bytes` by `key`.
    static func make(_ bytes: [UInt8], key: ManifestSigningKey) throws -> ManifestSignature {
        ManifestSignature(keyID: key.publicKey.id, value: try key.sign(bytes).base64EncodedString())
    }

    /// Checks `signature` (nil: none) over the bytes `signedBytes` gives, against `key` (nil: this host
    /// has none). `what` names the signed thing in the message.
    static func check(_ signature: ManifestSignature?, key: ManifestPublicKey?, what: String, signedBytes: () throws -> [UInt8]) -> SignatureCheck {
        guard let signature else { return .unsigned }
        guard let key else { return .noKey(signedBy: signature.keyID) }
        guard signature.algorithm == algorithm else {
            return .invalid("it is signed with '\(signature.algorithm.shortenedForMessage)', expected \(algorithm) by key \(key.id)")
        }
        guard signature.keyID == key.id else {
            return .invalid("it is signed by key \(signature.keyID.shortenedForMessage), expected key \(key.id) (\(key.origin))")
        }
        guard let value = Data(base64Encoded: signature.value), let bytes = try? signedBytes(), key.isValidSignature(value, for: bytes) else {
            return .invalid("its signature by key \(key.id) does not match its contents: the \(what) was changed after it was signed")
        }
        return .valid
    }
}

/// What checking a manifest's signature found.
public enum SignatureCheck: Sendable, Hashable {
    /// Signed by the expected key, and unchanged since.
    case valid
    /// No signature: written before BackupKit signed sets, or its signature was removed.
    case unsigned
    /// Signed, but this host has no public key to check it with (no key file, no `signing.public_key`).
    case noKey(signedBy: String)
    /// Signed by another key than the expected one, or changed after it was signed.
    case invalid(String)

    /// `valid`, `unsigned`, `unchecked` or `invalid`, for listings.
    public var label: String {
        switch self {
        case .valid: "valid"
        case .unsigned: "unsigned"
        case .noKey: "unchecked"
        case .invalid: "invalid"
        }
    }
}

extension Manifest {
    /// The bytes a signature covers: a fixed label, then the manifest encoded without its signature.
    public func signedBytes() throws -> [UInt8] {
        var unsigned = self
        unsigned.signature = nil
        return Array("backupkit manifest signature v1\n".utf8) + (try unsigned.encoded())
    }

    /// This manifest signed with `key`.
    public func signed(with key: ManifestSigningKey) throws -> Manifest {
        var copy = self
        copy.signature = try ManifestSignature.make(signedBytes(), key: key)
        return copy
    }

    /// Checks the signature against `key` (nil: this host has none to check with).
    public func checkSignature(with key: ManifestPublicKey?) -> SignatureCheck {
        ManifestSignature.check(signature, key: key, what: "manifest", signedBytes: signedBytes)
    }
}
