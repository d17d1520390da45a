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

    /// Why the set is not good, for people; nil when it is.
    public var problem: String? {
        switch self {
        case .good: nil
        case .unreadableManifest: "unreadable manifest"
        case .oversizedManifest(let key, let size):
            "manifest \(key) is \(formatBytes(size)); a manifest is at most \(formatBytes(SetCatalog.maximumManifestBytes)), so it was not read"
        case .invalidManifest(let manifest, let problem): "invalid manifest \(manifest): \(problem)"
        case .missingArtifact(let name): "damaged: \(name) is missing"
        case .wrongSize(let name, let stored, let recorded): "damaged: \(name) is \(stored) bytes, the manifest says \(recorded)"
        case .unverified: "unverified: an artifact failed verification"
        case .incomplete: "incomplete: no manifest (the run that wrote it failed or was killed)"
        case .futureDated(let seconds):
            "dated \(formatDuration(seconds)) in the future (a clock was wrong, or the set was tampered with): never counted as fresh or latest; check the clocks, then delete it by hand"
        }
    }
}
