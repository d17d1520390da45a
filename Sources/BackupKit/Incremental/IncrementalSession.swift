import Synchronization

/// What one incremental artifact of a run needs and makes, shared by the runner and the source that
/// writes it (``SourceContext/incremental``): the previous set's index and packs going in, the new packs
/// and the packs the new index names coming out.
public final class IncrementalSession: Sendable {
    /// The previous good set's index of this source and subject, downloaded or in place, and its format.
    public struct PreviousIndex: Sendable {
        public var path: String
        public var name: String
        public var format: any ArchiveFormat
    }

    public struct Outcome: Sendable {
        /// Packs written by this run, staged and read back.
        var newPacks: [PackWriter.Closed]
        /// Every pack the new index names, new or not.
        public var referencedPacks: Set<String>
    }

    public let plan: String
    public let source: String
    public let sourceType: String
    public let subject: String
    public let set: SetTimestamp
    public let staging: String
    /// The plan's tree format, in which packs are written.
    public let packFormat: any ArchiveFormat
    public let previous: PreviousIndex?
    /// The packs the previous set's manifest lists, by key: content is reused only from these.
    public let previousPacks: [String: ManifestArtifact]
    let packLimit: Int64
    private let outcome = Mutex<Outcome?>(nil)

    init(plan: String, source: String, sourceType: String, subject: String, set: SetTimestamp, staging: String, packFormat: any ArchiveFormat,
         previous: PreviousIndex?, previousPacks: [String: ManifestArtifact], packLimit: Int64 = PackWriter.defaultLimit) {
        self.plan = plan
        self.source = source
        self.sourceType = sourceType
        self.subject = subject
        self.set = set
        self.staging = staging
        self.packFormat = packFormat
        self.previous = previous
        self.previousPacks = previousPacks
        self.packLimit = packLimit
    }

    func finish(_ result: Outcome) { outcome.withLock { $0 = result } }

    /// The packs of `packs` that the previous set used less than half of (by `usage`, its index's
    /// ``ManifestArtifact/packUsage``): a run takes no content from them, so their live files go into
    /// new, dense packs, and once the older sets that name them are deleted, retention deletes them.
    /// This is repacking without rewriting any stored set: every set stays as it was signed.
    public static func sparsePacks(_ packs: [ManifestArtifact], usage: [String: Int64]) -> Set<String> {
        Set(packs.filter { pack in
            guard let used = usage[pack.name], pack.contentBytes > 0 else { return false }
            return used * 2 < pack.contentBytes
        }.map(\.name))
    }

    var result: Outcome? { outcome.withLock { $0 } }
}

extension SourceArtifact {
    /// An incremental set's artifact: its index (`<source>_<subject>_<set>.index.jsonl.<ext>`), which the
    /// runner writes with an ``IncrementalSession`` in the source's context.
    public static func incrementalIndex(subject: String) -> SourceArtifact {
        SourceArtifact(subject: subject, content: .stream(fileExtension: "index.jsonl"), details: ["mode": .string(ManifestArtifact.incrementalMode)])
    }

    public var isIncrementalIndex: Bool { details["mode"] == .string(ManifestArtifact.incrementalMode) }
}
