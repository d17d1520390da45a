import Logging

/// Something worth backing up: a directory tree, a set of files, a database, a bucket.
///
/// A run asks each source what it will produce (``prepare(_:)``), then has it write each artifact into
/// an archive (``write(_:to:context:)``). Restores go back through the same source (``restore(_:from:context:)``),
/// so the knowledge of how to put data back lives beside the knowledge of how to take it.
///
/// A source is a value configured once; it is `Sendable` and keeps no state between runs. Each
/// requirement says where it runs: ``prepare(_:)`` on Swift's cooperative pool, where blocking calls
/// belong inside ``runBlocking(_:)``; the others on a dedicated thread, where they may block.
public protocol BackupSource: Sendable {
    /// The source's name in the plan, the first part of its artifact names (`db`, `minio`, `config`).
    var name: String { get }
    /// The plan file's `type:` for this source (`directory`, `postgres`), recorded in manifests.
    var type: String { get }

    /// Says what the run will produce, before anything is written: one ``SourceArtifact`` per artifact,
    /// usually one; a source that dumps several databases returns one per database.
    ///
    /// It checks what can be checked early (the path exists, the server answers, the credentials work,
    /// there is room) and throws a ``BackupError`` that names the thing and the fix. It must not write
    /// anything. It runs on the cooperative pool: wrap blocking calls (a database connection, a large
    /// directory scan) in ``runBlocking(_:)``.
    func prepare(_ context: SourceContext) async throws -> [SourceArtifact]

    /// Streams one artifact's content into `archive`, with bounded memory, never holding it whole.
    ///
    /// It runs on a dedicated thread, not on the cooperative pool, because it does blocking I/O at disk
    /// speed; it may block. It checks `context.isCancelled()` between entries or chunks and throws
    /// `CancellationError` when set. Problems that leave the artifact correct but worth knowing (a file
    /// changed while it was read) go to `context.warn`; anything that would make the artifact wrong
    /// must throw. It must not call ``ArchiveWriter/finish()``.
    func write(_ artifact: SourceArtifact, to archive: any ArchiveWriter, context: SourceContext) throws -> SourceReport

    /// Puts an artifact back at `request`'s destination, reading it from `archive`, whose artifact has
    /// already been checked against its manifest. Runs on a dedicated thread and may block. Throws when
    /// the destination is of a kind it cannot restore to.
    func restore(_ request: RestoreRequest, from archive: any ArchiveReader, context: SourceContext) throws -> RestoreReport

    /// The restore drill: restores the artifact into something disposable (a scratch database), checks
    /// it against what the manifest recorded, and removes it again. Returns nil when the source has no
    /// drill; the default implementation has none. Runs on a dedicated thread, like ``restore(_:from:context:)``.
    func restoreDrill(_ request: RestoreRequest, from archive: any ArchiveReader, context: SourceContext) throws -> RestoreDrillResult?
}

extension BackupSource {
    public func restoreDrill(_ request: RestoreRequest, from archive: any ArchiveReader, context: SourceContext) throws -> RestoreDrillResult? {
        nil
    }
}

/// What a restore drill found.
public struct RestoreDrillResult: Sendable, Codable, Hashable {
    public var passed: Bool
    /// One line for people: "12 tables, 3,000,112 rows match" or what differed.
    public var summary: String
    public var durationSeconds: Double
    /// Facts such as per-table counts that differed.
    public var details: [String: JSONValue]

    public init(passed: Bool, summary: String, durationSeconds: Double, details: [String: JSONValue] = [:]) {
        self.passed = passed
        self.summary = summary
        self.durationSeconds = durationSeconds
        self.details = details
    }

    enum CodingKeys: String, CodingKey {
        case passed, summary, details
        case durationSeconds = "duration_seconds"
    }
}

/// One artifact a source will produce in a run.
public struct SourceArtifact: Sendable, Hashable {
    /// The second part of the artifact name: a database, a bucket, or the plan's `subject`.
    public var subject: String
    public var content: SourceContent
    /// What the source expects to write before compression, when it knows (for progress and space checks).
    public var expectedContentBytes: Int64?
    /// Facts recorded in the manifest beside the artifact, such as per-table row counts.
    public var details: [String: JSONValue]
    /// The compression this artifact must use whatever the plan says, such as `.none` for data that
    /// is already compressed (a `pg_dump -Fc` dump). Nil: the plan's.
    public var compression: Compression?

    public init(subject: String, content: SourceContent, expectedContentBytes: Int64? = nil, details: [String: JSONValue] = [:],
                compression: Compression? = nil) {
        self.subject = subject
        self.content = content
        self.expectedContentBytes = expectedContentBytes
        self.details = details
        self.compression = compression
    }
}

/// What a source writes: a tree of entries, or one stream whose own suffix (such as "sql") goes before
/// the compression suffix in the artifact name.
public enum SourceContent: Sendable, Hashable {
    case tree
    case stream(fileExtension: String)

    public var layout: ArchiveLayout {
        switch self {
        case .tree: .tree
        case .stream: .stream
        }
    }
}

/// What a source tells the run once an artifact is written.
public struct SourceReport: Sendable {
    /// Facts added to the manifest beside the artifact, merged over those from ``SourceArtifact``.
    public var details: [String: JSONValue]

    public init(details: [String: JSONValue] = [:]) {
        self.details = details
    }
}

/// What a source may use while it works. Everything here is safe to call from any thread.
public struct SourceContext: Sendable {
    public var planName: String
    public var logger: Logger
    /// Where a source may put temporary files; the run removes them.
    public var stagingDirectory: String
    /// Records a warning in the run report and the manifest.
    public var warn: @Sendable (String) -> Void
    /// Reports content bytes read so far, for progress.
    public var progress: @Sendable (Int64) -> Void
    /// True once the run is cancelled; long loops check it and throw `CancellationError`.
    public var isCancelled: @Sendable () -> Bool

    public init(
        planName: String, logger: Logger, stagingDirectory: String,
        warn: @escaping @Sendable (String) -> Void = { _ in },
        progress: @escaping @Sendable (Int64) -> Void = { _ in },
        isCancelled: @escaping @Sendable () -> Bool = { false }
    ) {
        self.planName = planName
        self.logger = logger
        self.stagingDirectory = stagingDirectory
        self.warn = warn
        self.progress = progress
        self.isCancelled = isCancelled
    }

    public func checkCancellation() throws {
        if isCancelled() { throw CancellationError() }
    }
}

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

/// What a restore did.
public struct RestoreReport: Sendable, Codable {
    public var artifact: String
    public var destination: String
    public var entries: Int
    public var bytes: Int64

    public init(artifact: String, destination: String, entries: Int, bytes: Int64) {
        self.artifact = artifact
        self.destination = destination
        self.entries = entries
        self.bytes = bytes
    }
}
