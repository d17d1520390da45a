import Crypto
import CryptoExtras
import Foundation

/// Who an age file is encrypted to: an X25519 public key (`age1…`), or a passphrase (scrypt).
public enum AgeRecipient: Sendable, Hashable {
    case x25519(Curve25519.KeyAgreement.PublicKey)
    /// A passphrase, with the base-two logarithm of scrypt's work factor (age uses 18).
    case scrypt(passphrase: String, workFactor: Int)

    /// Parses `age1…`.
    public init(parsing text: String) throws {
        guard let (hrp, data) = Bech32.decode(text.trimmingCharacters(in: .whitespaces)), hrp == "age", data.count == 32,
              let key = try? Curve25519.KeyAgreement.PublicKey(rawRepresentation: data)
        else {
            throw BackupError(.invalidPlan, "'\(text.shortenedForMessage)' is not an age recipient (age1…, as `backupctl key generate` or age-keygen prints it)")
        }
        self = .x25519(key)
    }

    /// `age1…` for an X25519 recipient; a passphrase recipient has no text.
    public var text: String? {
        guard case .x25519(let key) = self else { return nil }
        return Bech32.encode(hrp: "age", data: Array(key.rawRepresentation))
    }

    public static func == (lhs: AgeRecipient, rhs: AgeRecipient) -> Bool {
        switch (lhs, rhs) {
        case (.x25519(let a), .x25519(let b)): a.rawRepresentation == b.rawRepresentation
        case (.scrypt(let a, let x), .scrypt(let b, let y)): a == b && x == y
        default: false
        }
    }

    public func hash(into hasher: inout Hasher) {
        switch self {
        case .x25519(let key): hasher.combine(key.rawRepresentation)
        case .scrypt(let passphrase, let factor): hasher.combine(passphrase); hasher.combine(factor)
        }
    }

    static let x25519Info = Array("age-encryption.org/v1/X25519".utf8)
    static let scryptSaltLabel = Array("age-encryption.org/v1/scrypt".utf8)

    /// The stanza that wraps `fileKey` for this recipient.
    func stanza(wrapping fileKey: [UInt8]) throws -> AgeStanza {
        switch self {
        case .x25519(let recipient):
            let ephemeral = Curve25519.KeyAgreement.PrivateKey()
            let share = Array(ephemeral.publicKey.rawRepresentation)
            let secret = try ephemeral.sharedSecretFromKeyAgreement(with: recipient)
            let key = Self.wrapKey(secret: secret, share: share, recipient: Array(recipient.rawRepresentation))
            return AgeStanza(arguments: ["X25519", AgeBase64.encode(share)], body: try Self.seal(fileKey, with: key))
        case .scrypt(let passphrase, let workFactor):
            let salt = (0..<16).map { _ in UInt8.random(in: .min ... .max) }
            let key = try Self.scryptKey(passphrase: passphrase, salt: salt, workFactor: workFactor)
            return AgeStanza(arguments: ["scrypt", AgeBase64.encode(salt), String(workFactor)], body: try Self.seal(fileKey, with: key))
        }
    }

    static func wrapKey(secret: SharedSecret, share: [UInt8], recipient: [UInt8]) -> SymmetricKey {
        secret.hkdfDerivedSymmetricKey(using: SHA256.self, salt: share + recipient, sharedInfo: x25519Info, outputByteCount: 32)
    }

    static func scryptKey(passphrase: String, salt: [UInt8], workFactor: Int) throws -> SymmetricKey {
        try KDF.Scrypt.deriveKey(from: Array(passphrase.utf8), salt: scryptSaltLabel + salt, outputByteCount: 32,
                                 rounds: 1 << workFactor, blockSize: 8, parallelism: 1, maxMemory: 256 << 20)
    }

    static let zeroNonce = try! ChaChaPoly.Nonce(data: [UInt8](repeating: 0, count: 12))

    static func seal(_ fileKey: [UInt8], with key: SymmetricKey) throws -> [UInt8] {
        let box = try ChaChaPoly.seal(fileKey, using: key, nonce: zeroNonce)
        return Array(box.ciphertext) + Array(box.tag)
    }
}
