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

    /// Where `restore --all` puts `artifact` back when the command line names no target: where it came
    /// from (the directory, the database, the bucket). Nil: it needs a target (the default).
    func defaultRestoreDestination(for artifact: ManifestArtifact) -> RestoreDestination?
}

extension BackupSource {
    public func defaultRestoreDestination(for artifact: ManifestArtifact) -> RestoreDestination? { nil }

    public func restoreDrill(_ request: RestoreRequest, from archive: any ArchiveReader, context: SourceContext) throws -> RestoreDrillResult? {
        nil
    }
}
