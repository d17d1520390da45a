import Logging

/// Where a restore puts the data back.
public struct RestoreDestination: Sendable, Hashable, CustomStringConvertible {
    /// A kind of destination. Modules add their own, such as a database or a bucket.
    public struct Kind: RawRepresentable, Sendable, Hashable {
        public var rawValue: String
        public init(rawValue: String) { self.rawValue = rawValue }
        /// A directory on this host (`--to DIR`).
        public static let directory = Kind(rawValue: "directory")
        /// A database on the source's server (`--to-database NAME`).
        public static let database = Kind(rawValue: "database")
    }

    public var kind: Kind
    public var value: String

    public init(kind: Kind, value: String) {
        self.kind = kind
        self.value = value
    }

    public static func directory(_ path: String) -> RestoreDestination {
        RestoreDestination(kind: .directory, value: path)
    }

    public var description: String { "\(kind.rawValue) \(value)" }
}

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

    public init(artifact: ManifestArtifact, destination: RestoreDestination, force: Bool = false, dropExisting: Bool = false,
                artifactPath: String? = nil, jobs: Int? = nil) {
        self.artifact = artifact
        self.destination = destination
        self.force = force
        self.dropExisting = dropExisting
        self.artifactPath = artifactPath
        self.jobs = jobs
    }
}
