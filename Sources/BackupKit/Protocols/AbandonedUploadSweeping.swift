/// A sink whose unfinished uploads outlive the process that started them, such as S3's multipart
/// uploads after a SIGKILL or a server that stopped answering: they are invisible to ``Sink/list()``
/// and cost storage until aborted. Each backup run asks such a sink to abort the abandoned ones of its
/// own plan.
public protocol AbandonedUploadSweeping: Sink {
    /// Aborts the unfinished uploads of keys `isOurs` accepts (names as ``Sink/list()`` gives them)
    /// that are old enough that no run still going can own them, and returns their keys.
    func abortAbandonedUploads(isOurs: @escaping @Sendable (String) -> Bool) async throws -> [String]
}

extension BackupPlan {
    /// Whether a sink key is one of this plan's: its manifest, or an artifact of one of its sources.
    public func ownsKey(_ key: String) -> Bool {
        if let manifest = ArtifactName.manifestPlan(key) { return manifest.plan == name }
        guard ArtifactName.parse(key) != nil else { return false }
        return sources.contains { $0.source.name == SetCatalog.sourceName(of: key) }
    }
}
