/// What a sink's copy of a set is worth, as ``SetCatalog`` finds it.
public enum SetHealth: Sendable, Hashable {
    /// Complete (manifest present, every artifact stored at its recorded size) and verified.
    case good
    /// The manifest is there but cannot be decoded.
    case unreadableManifest
    /// The manifest is larger than any manifest BackupKit writes; it was not read.
    case oversizedManifest(manifest: String, size: Int64)
    /// The manifest decodes, but a name in it breaks the plan's own rules (a `source` of `../../escape`,
    /// an artifact `name` that is not made of its source, subject and set): someone or something
    /// changed it, so none of its names are used. `problem` names the field.
    case invalidManifest(manifest: String, problem: String)
    /// The manifest's signature fails its check (``SignatureCheck/invalid(_:)``): it was changed after it
    /// was signed, or signed with another key. None of it is used; retention keeps it for inspection.
    case badSignature(manifest: String, problem: String)
    /// The set is complete, but its manifest has no signature: written before BackupKit signed sets,
    /// or its signature was removed. Restored only with `--allow-unsigned`.
    case unsigned(manifest: String)
    /// The set is complete and signed by key `keyID`, but this host has no public key to check the
    /// signature with. Restored only with `--allow-unsigned`, or once `signing.public_key` is set.
    case unverifiableSignature(manifest: String, keyID: String)
    /// An artifact the manifest lists is not in the sink.
    case missingArtifact(String)
    /// An artifact is stored at another size than the manifest records.
    case wrongSize(artifact: String, stored: Int64, recorded: Int64)
    /// The manifest says an artifact failed verification.
    case unverified
    /// Files with no manifest: the run that wrote them failed or was killed.
    case incomplete
    /// The set's timestamp is more than ``SetCatalog/futureTolerance`` ahead of this host's clock, by
    /// `by` seconds: a clock was wrong when it was written, or its names were changed. Whatever its
    /// files, it is never the newest good set (it would count as fresh for a year, and be restored
    /// before every real set); retention keeps it for inspection.
    case futureDated(by: Double)

    public var isGood: Bool { self == .good }

    /// Changed by someone or something other than BackupKit: a manifest that cannot be decoded, holds an
    /// invalid name, or whose signature fails. The newest set being so is never a reason to restore an
    /// older one in its place.
    public var isTampered: Bool {
        switch self {
        case .unreadableManifest, .invalidManifest, .badSignature: true
        default: false
        }
    }

    /// Good but for its signature: unsigned, or signed with a key this host cannot check. Such a set
    /// restores with `--allow-unsigned`.
    public var isGoodButUnsigned: Bool {
        switch self {
        case .unsigned, .unverifiableSignature: true
        default: false
        }
    }

    /// Why the set is not good, for people; nil when it is.
    public var problem: String? {
        switch self {
        case .good: nil
        case .unreadableManifest: "unreadable manifest"
        case .oversizedManifest(let key, let size):
            "manifest \(key) is \(formatBytes(size)); a manifest is at most \(formatBytes(SetCatalog.maximumManifestBytes)), so it was not read"
        case .invalidManifest(let manifest, let problem): "invalid manifest \(manifest): \(problem)"
        case .badSignature(let manifest, let problem): "bad signature: manifest \(manifest): \(problem)"
        case .unsigned(let manifest):
            "unsigned: manifest \(manifest) has no signature (written before BackupKit signed sets, or its signature was removed); restoring it needs --allow-unsigned"
        case .unverifiableSignature(let manifest, let keyID):
            "signature not checked: manifest \(manifest) is signed by key \(keyID), but this host has no public key to check it with; set signing.public_key to the key `backupctl key` prints on the backup host, or restore with --allow-unsigned"
        case .missingArtifact(let name): "damaged: \(name) is missing"
        case .wrongSize(let name, let stored, let recorded): "damaged: \(name) is \(stored) bytes, the manifest says \(recorded)"
        case .unverified: "unverified: an artifact failed verification"
        case .incomplete: "incomplete: no manifest (the run that wrote it failed or was killed)"
        case .futureDated(let seconds):
            "dated \(formatDuration(seconds)) in the future (a clock was wrong, or the set was tampered with): never counted as fresh or latest; check the clocks, then delete it by hand"
        }
    }
}
