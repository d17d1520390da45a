import Foundation

/// The plan's `signing:` section: which key signs the plan's manifests, and which checks them.
///
/// ```yaml
/// signing:
///   key_file: /etc/backupctl/app.signing-key   # default: .backupctl-<plan>.signing-key in state_dir
///   public_key: ed25519:MCowBQYDK2VwAyEA…     # what `backupctl key` printed on the backup host
/// ```
///
/// Without `public_key`, sets are checked with the public half of the key file. A restore host that
/// must not hold the private key names only `public_key`.
public struct SigningSettings: Sendable, Hashable, Decodable {
    /// The private key's file; nil: ``BackupPlan/signingKeyPath``'s default in the state directory.
    public var keyFile: String?
    /// The key that checks manifests, `ed25519:<base64>`; nil: the key file's public half.
    public var publicKey: String?

    public init(keyFile: String? = nil, publicKey: String? = nil) {
        self.keyFile = keyFile
        self.publicKey = publicKey
    }

    enum CodingKeys: String, CodingKey, CaseIterable {
        case keyFile = "key_file"
        case publicKey = "public_key"
    }

    public init(from decoder: any Decoder) throws {
        let context = try PlanDecodingContext.from(decoder)
        let container = try decoder.strictContainer(keyedBy: CodingKeys.self)
        keyFile = try container.decodeIfPresent(String.self, forKey: .keyFile).map { resolvePath($0, against: context.baseDirectory) }
        publicKey = try container.decodeIfPresent(String.self, forKey: .publicKey)
        if let publicKey {
            do { _ = try ManifestPublicKey(text: publicKey, origin: "signing.public_key") } catch let error as BackupError {
                throw invalidValue(.publicKey, in: container, error.message)
            }
        }
    }
}

extension BackupPlan {
    /// The file of the key that signs this plan's manifests.
    public var signingKeyPath: String {
        signing.keyFile ?? resolvedStateDirectory + "/.backupctl-\(name).signing-key"
    }

    /// The key that signs this plan's manifests, made on first use. Fails when the plan's
    /// `signing.public_key` is another key's: every set it signed would then fail its check.
    public func signingKey() throws -> (key: ManifestSigningKey, created: Bool) {
        let (key, created) = try ManifestSigningKey.loadOrCreate(at: signingKeyPath)
        if let expected = try configuredPublicKey(), expected != key.publicKey {
            throw BackupError(.invalidPlan, "\(origin): the signing key \(key.path) (key \(key.publicKey.id)) is not the key signing.public_key names (key \(expected.id)): sets it signed would fail their check. Point signing.key_file at the right key, or correct signing.public_key")
        }
        return (key, created)
    }

    /// The key that checks this plan's manifests: `signing.public_key`, else the public half of the
    /// key file when there is one; nil when this host has neither.
    public func manifestPublicKey() throws -> ManifestPublicKey? {
        if let configured = try configuredPublicKey() { return configured }
        guard FileManager.default.fileExists(atPath: signingKeyPath) else { return nil }
        return try ManifestSigningKey.load(from: signingKeyPath).publicKey
    }

    private func configuredPublicKey() throws -> ManifestPublicKey? {
        try signing.publicKey.map { try ManifestPublicKey(text: $0, origin: "signing.public_key in \(origin)") }
    }
}
