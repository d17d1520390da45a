import Logging

/// One artifact to restore, and how.
public struct RestoreRequest: Sendable {
    public var artifact: ManifestArtifact
    public var destination: RestoreDestination
    /// Restore into a destination that already holds data, adding to it.
    public var force: Bool
    /// Replace a destination that already holds data (drop and recreate it).
    public var dropExisting: Bool
    /// The artifact as a file on this host, already checked against its manifest, for tools that need
    /// a file rather than a stream (`pg_restore -j`).
    public var artifactPath: String?
    /// How many parallel jobs a restore may use; nil: one per core.
    public var jobs: Int?
    /// Restore only the entries these patterns select (``GlobPattern/selects(_:isDirectory:)``); empty
    /// means every entry. Tree artifacts only.
    public var paths: [GlobPattern]

    public init(artifact: ManifestArtifact, destination: RestoreDestination, force: Bool = false, dropExisting: Bool = false,
                artifactPath: String? = nil, jobs: Int? = nil, paths: [GlobPattern] = []) {
        self.artifact = artifact
        self.destination = destination
        self.force = force
        self.dropExisting = dropExisting
        self.artifactPath = artifactPath
        self.jobs = jobs
        self.paths = paths
    }
}
