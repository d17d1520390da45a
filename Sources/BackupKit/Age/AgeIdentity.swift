import Crypto
import CryptoExtras
import Foundation

/// What opens an age file: an X25519 identity (`AGE-SECRET-KEY-1…`), or a passphrase.
public enum AgeIdentity: Sendable {
    case x25519(Curve25519.KeyAgreement.PrivateKey)
    case scrypt(passphrase: String)

    /// A new X25519 identity.
    public static func generate() -> AgeIdentity { .x25519(Curve25519.KeyAgreement.PrivateKey()) }

    /// Parses `AGE-SECRET-KEY-1…`.
    public init(parsing text: String) throws {
        guard let (hrp, data) = Bech32.decode(text.trimmingCharacters(in: .whitespaces)), hrp == "age-secret-key-", data.count == 32,
              let key = try? Curve25519.KeyAgreement.PrivateKey(rawRepresentation: data)
        else {
            throw BackupError(.usage, "not an age identity: an identity line is AGE-SECRET-KEY-1… (the identity itself is not shown)")
        }
        self = .x25519(key)
    }

    /// `AGE-SECRET-KEY-1…` for an X25519 identity.
    public var text: String? {
        guard case .x25519(let key) = self else { return nil }
        return Bech32.encode(hrp: "age-secret-key-", data: Array(key.rawRepresentation)).uppercased()
    }

    /// The recipient that encrypts to this identity (a passphrase identity is its own recipient).
    public var recipient: AgeRecipient {
        switch self {
        case .x25519(let key): .x25519(key.publicKey)
        case .scrypt(let passphrase): .scrypt(passphrase: passphrase, workFactor: AgeIdentity.defaultWorkFactor)
        }
    }

    /// age's own default: about a second on a laptop.
    public static let defaultWorkFactor = 18
    /// The highest scrypt work factor accepted when decrypting: 2^20 rounds need 1 GiB of memory (age
    /// writes 18), so a hostile header cannot make a restore take 4 GiB.
    static let maximumWorkFactor = 20

    /// The file key from the stanza addressed to this identity; nil when none is. Throws
    /// ``AgeError/header(_:)`` for a stanza of this identity's type that breaks its rules.
    func unwrap(_ stanzas: [AgeStanza]) throws -> [UInt8]? {
        switch self {
        case .x25519(let key):
            for stanza in stanzas where stanza.type == "X25519" {
                guard stanza.arguments.count == 2, let share = AgeBase64.decode(stanza.arguments[1]), share.count == 32 else {
                    throw AgeError.header("an X25519 stanza needs one argument, a 32-byte share")
                }
                guard stanza.body.count == 32 else { throw AgeError.header("an X25519 stanza's body is \(stanza.body.count) bytes, not 32") }
                guard let sharePoint = try? Curve25519.KeyAgreement.PublicKey(rawRepresentation: share),
                      let secret = try? key.sharedSecretFromKeyAgreement(with: sharePoint) else {
                    throw AgeError.header("an X25519 stanza's share is not a valid point")
                }
                guard secret.withUnsafeBytes({ $0.contains { $0 != 0 } }) else {
                    throw AgeError.header("an X25519 stanza's share gives the all-zero secret")
                }
                let wrap = AgeRecipient.wrapKey(secret: secret, share: share, recipient: Array(key.publicKey.rawRepresentation))
                if let fileKey = Self.open(stanza.body, with: wrap) { return fileKey }
            }
            return nil
        case .scrypt(let passphrase):
            guard let stanza = stanzas.first(where: { $0.type == "scrypt" }) else { return nil }
            guard stanzas.count == 1 else { throw AgeError.header("an scrypt stanza must be the only stanza") }
            guard stanza.arguments.count == 3, let salt = AgeBase64.decode(stanza.arguments[1]), salt.count == 16 else {
                throw AgeError.header("an scrypt stanza needs two arguments, a 16-byte salt and a work factor")
            }
            let factorText = stanza.arguments[2]
            guard let first = factorText.first, first != "0", factorText.allSatisfy(\.isASCIIDigitCharacter),
                  let workFactor = Int(factorText), (1...Self.maximumWorkFactor).contains(workFactor) else {
                throw AgeError.header("an scrypt stanza's work factor '\(factorText.shortenedForMessage)' is not a decimal from 1 to \(Self.maximumWorkFactor)")
            }
            guard stanza.body.count == 32 else { throw AgeError.header("an scrypt stanza's body is \(stanza.body.count) bytes, not 32") }
            let key = try AgeRecipient.scryptKey(passphrase: passphrase, salt: salt, workFactor: workFactor)
            return Self.open(stanza.body, with: key)
        }
    }

    private static func open(_ body: [UInt8], with key: SymmetricKey) -> [UInt8]? {
        guard let box = try? ChaChaPoly.SealedBox(nonce: AgeRecipient.zeroNonce, ciphertext: body.prefix(16), tag: body.suffix(16)),
              let fileKey = try? ChaChaPoly.open(box, using: key) else { return nil }
        return Array(fileKey)
    }
}

extension Character {
    var isASCIIDigitCharacter: Bool { isASCII && isNumber }
}
