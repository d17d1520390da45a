import Crypto
import Foundation

/// The manifest of a set as an encrypted sink keeps it, under the manifest's usual name.
///
/// The set's full manifest (hosts, subjects, row counts, warnings: data) is inside, encrypted to the
/// sink's recipients (``manifest``). Outside is only what the sink's listing shows anyway, and what a
/// host without the identity needs to keep and check the set: the set's timestamp, tag and whether it
/// was verified, and each artifact's stored name with the size and SHA-256 of its *ciphertext*. The
/// plan's signing key signs all of it, so nobody with write access to the bucket can swap an artifact
/// for another valid age file to the same recipient, or edit what retention reads.
public struct SealedManifest: Sendable, Codable, Hashable {
    public static let currentFormat = 1
    public static let encryptionName = "age"

    public var format: Int
    /// Always `age`: how a reader tells this from a plaintext manifest.
    public var encryption: String
    public var plan: String
    public var timestamp: SetTimestamp
    public var tag: String?
    /// The sources of a partial set; nil for a whole one.
    public var sources: [String]?
    /// Whether every artifact passed verification when the set was written.
    public var verified: Bool
    /// The sink this copy was written for.
    public var sink: String
    /// Who can open the set: each recipient's `age1…`, or `passphrase`.
    public var recipients: [String]
    public var artifacts: [SealedArtifact]
    /// Each time `backupctl key rekey` changed the recipients.
    public var rekeys: [RekeyRecord]?
    /// The full manifest, signed, as an age file, base64.
    public var manifest: String
    public var signature: ManifestSignature?

    enum CodingKeys: String, CodingKey {
        case format, encryption, plan, timestamp, tag, sources, verified, sink, recipients, artifacts, rekeys, manifest, signature
    }

    /// One artifact as the encrypted sink stores it.
    public struct SealedArtifact: Sendable, Codable, Hashable {
        /// The artifact's name in the full manifest, such as `db_app_20241130_020000.sql.gz`.
        public var name: String
        /// Its key in the sink: the name and `.age`.
        public var key: String
        /// The ciphertext's size.
        public var size: Int64
        /// The SHA-256 of the whole ciphertext as it was written; nil once a rekey gave it a new header
        /// (the header and payload hashes then cover it).
        public var sha256: String?
        /// The age header's length and SHA-256: a damaged header is told apart from a file for other
        /// recipients, and a rekey replaces only these.
        public var headerSize: Int
        public var headerSHA256: String
        /// The SHA-256 of everything after the header (the payload nonce and chunks), which no rekey changes.
        public var payloadSHA256: String
        /// The header a rekey in progress is giving the file: until it is done, either header is genuine.
        public var pendingHeader: PendingHeader?

        public struct PendingHeader: Sendable, Codable, Hashable {
            public var size: Int
            public var sha256: String
        }

        /// The payload's size.
        public var payloadSize: Int64 { size - Int64(headerSize) }

        /// Whether a stored object of `size` bytes, with a header of `headerSHA256` and a payload of
        /// `payloadSHA256`, is this artifact as signed.
        public func matches(size stored: Int64, header: (size: Int, sha256: String), payloadSHA256 payload: String) -> Bool {
            guard payload == payloadSHA256, stored - Int64(header.size) == payloadSize else { return false }
            if header.size == headerSize && header.sha256 == headerSHA256 { return true }
            return pendingHeader.map { $0.size == header.size && $0.sha256 == header.sha256 } ?? false
        }

        /// Whether a header of this size and SHA-256 is the signed one or the pending one.
        public func matchesHeader(_ header: (size: Int, sha256: String)) -> Bool {
            (header.size == headerSize && header.sha256 == headerSHA256)
                || pendingHeader.map { $0.size == header.size && $0.sha256 == header.sha256 } ?? false
        }

        /// The sizes a stored copy may have: the signed one, or the one a rekey in progress gives it.
        public var acceptedSizes: Set<Int64> {
            var sizes: Set<Int64> = [size]
            if let pendingHeader { sizes.insert(payloadSize + Int64(pendingHeader.size)) }
            return sizes
        }

        enum CodingKeys: String, CodingKey {
            case name, key, size, sha256
            case headerSize = "header_size"
            case headerSHA256 = "header_sha256"
            case payloadSHA256 = "payload_sha256"
            case pendingHeader = "pending_header"
        }
    }

    public struct RekeyRecord: Sendable, Codable, Hashable {
        public var at: Date
        public var recipients: [String]
    }

    /// The stored key of an artifact on an encrypted sink.
    public static func key(for name: String) -> String { name + ".age" }

    /// Seals `manifest` (already signed) for `sink`: encrypts it to `recipients` and lists `artifacts`.
    public static func seal(_ manifest: Manifest, sink: String, recipients: [AgeRecipient], artifacts: [SealedArtifact]) throws -> SealedManifest {
        SealedManifest(
            format: currentFormat, encryption: encryptionName, plan: manifest.plan, timestamp: manifest.timestamp, tag: manifest.tag,
            sources: manifest.sources, verified: manifest.isVerified, sink: sink, recipients: recipients.map(Self.label), artifacts: artifacts,
            rekeys: nil, manifest: Data(try AgeEncryptor.encrypt(manifest.encoded(), to: recipients)).base64EncodedString(), signature: nil)
    }

    static func label(_ recipient: AgeRecipient) -> String { recipient.text ?? "passphrase" }

    /// The error for a stored copy that is not the signed one.
    static func replaced(_ what: String, stored: (size: Int64, header: (size: Int, sha256: String), payloadSHA256: String), sealed: SealedArtifact) -> BackupError {
        BackupError(.verificationFailed, "\(what) is not the file the signed manifest lists (stored: \(stored.size) bytes, payload SHA-256 \(stored.payloadSHA256); signed: \(sealed.size) bytes, payload SHA-256 \(sealed.payloadSHA256)): it was replaced or damaged, and is not used")
    }

    public func artifact(named name: String) -> SealedArtifact? { artifacts.first { $0.name == name } }

    /// The encrypted copy of `artifact`; an artifact this sealed manifest does not list is refused.
    public func copy(of artifact: ManifestArtifact) throws -> SealedArtifact {
        guard let copy = self.artifact(named: artifact.name) else {
            throw BackupError(.verificationFailed, "\(artifact.name) is not listed in the signed manifest of set \(timestamp) in sink '\(sink)'")
        }
        return copy
    }

    /// Opens the full manifest with `identities`, and checks that it is the manifest of this set: same
    /// plan, timestamp, tag, sources and artifacts.
    public func open(with identities: [AgeIdentity]) throws -> Manifest {
        guard let sealed = Data(base64Encoded: manifest) else {
            throw BackupError(.encryptedDataDamaged, "the sealed manifest of set \(timestamp) in sink '\(sink)' is not base64")
        }
        let plain = try AgeFileReading.decrypt(Array(sealed), identities: identities, what: "the manifest of set \(timestamp) in sink '\(sink)'")
        let inner = try Manifest.decode(plain, key: ArtifactName.manifest(plan: plan, timestamp: timestamp))
        guard inner.plan == plan, inner.timestamp == timestamp, inner.tag == tag, inner.sources == sources, inner.isVerified == verified,
              Set(inner.artifacts.map(\.name)) == Set(artifacts.map(\.name)) else {
            throw BackupError(.verificationFailed, "the sealed manifest of set \(timestamp) in sink '\(sink)' does not match the manifest inside it: someone changed one of them")
        }
        return inner
    }

    // MARK: Signing

    public func signedBytes() throws -> [UInt8] {
        var unsigned = self
        unsigned.signature = nil
        return Array("backupkit sealed manifest signature v1\n".utf8) + (try unsigned.encoded())
    }

    public func signed(with key: ManifestSigningKey) throws -> SealedManifest {
        var copy = self
        copy.signature = try ManifestSignature.make(signedBytes(), key: key)
        return copy
    }

    public func checkSignature(with key: ManifestPublicKey?) -> SignatureCheck {
        ManifestSignature.check(signature, key: key, what: "sealed manifest", signedBytes: signedBytes)
    }

    public func encoded() throws -> [UInt8] {
        Array(try Manifest.jsonEncoder().encode(self)) + [UInt8(ascii: "\n")]
    }

    /// Decodes a sealed manifest; nil when `bytes` are not one (a plaintext manifest, or damage).
    public static func decodeIfSealed(_ bytes: [UInt8]) -> SealedManifest? {
        guard let sealed = try? Manifest.jsonDecoder().decode(SealedManifest.self, from: Data(bytes)), sealed.encryption == encryptionName else { return nil }
        return sealed
    }

    /// The names in it break no rule: each key is its artifact's name and `.age`, and each name is an
    /// artifact name of this set.
    func nameProblem() -> String? {
        for artifact in artifacts {
            if ArtifactName.isPack(artifact.name, plan: plan), artifact.key == Self.key(for: artifact.name) { continue }
            guard let parts = ArtifactName.parse(artifact.name), parts.timestamp == timestamp, artifact.key == Self.key(for: artifact.name) else {
                return "artifact '\(artifact.name.shortenedForMessage)' stored as '\(artifact.key.shortenedForMessage)' is not an artifact of set \(timestamp)"
            }
        }
        return nil
    }
}

/// Decrypts age files that BackupKit reads whole (manifests) or streams (artifacts), turning age's
/// error classes into the codes people and scripts act on.
enum AgeFileReading {
    static func decrypt(_ bytes: [UInt8], identities: [AgeIdentity], what: String) throws -> [UInt8] {
        guard !identities.isEmpty else { throw identityNeeded(what) }
        do {
            return try AgeDecryptor.decrypt(bytes, identities: identities)
        } catch let error as AgeError {
            throw failure(error, what: what, headerChanged: false)
        }
    }

    static func identityNeeded(_ what: String) -> BackupError {
        BackupError(.identityNeeded, "\(what) is encrypted: reading it needs the identity (the private key). Give --identity FILE or set \(IdentityFile.variable); a host that only backs up does not hold it")
    }

    /// The error for an age failure. `headerChanged`: the header's bytes differ from the ones recorded
    /// when it was written, so a stanza no identity opens is damage, not a file for other recipients.
    ///
    /// `shorterThanSigned`: the file is shorter than the signed manifest says, so a payload that fails
    /// is cut short; nil when the size to expect is not known (then age's own reason decides).
    static func failure(_ error: AgeError, what: String, headerChanged: Bool, shorterThanSigned: Bool? = nil) -> BackupError {
        switch error {
        case .noMatch where !headerChanged:
            return BackupError(.wrongIdentity, "\(what): none of the identities given opens it: it is encrypted to other recipients. Give the identity whose recipient the plan lists (--identity FILE)")
        case .payload(let problem) where shorterThanSigned ?? problem.hasSuffix("(truncated)"):
            return BackupError(.encryptedDataTruncated, "\(what) is cut short: \(problem). The stored copy is incomplete; restore from another sink or set")
        case .noMatch, .hmac, .header:
            return BackupError(.encryptedDataDamaged, "\(what) has a damaged age header (\(error)): it was changed after it was written. Restore from another sink or set")
        case .payload:
            return BackupError(.encryptedDataDamaged, "\(what) is damaged: \(error). Nothing of it was used; restore from another sink or set")
        }
    }
}
