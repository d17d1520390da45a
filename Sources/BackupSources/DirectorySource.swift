import BackupKit
import Glibc

/// Backs up a directory tree, such as MinIO's data volume, as one tar archive whose entry paths are
/// relative to the directory. Restores extract into a directory.
///
/// ```yaml
/// - name: minio
///   type: directory
///   path: /srv/minio/data
///   subject: schedgen-pdfs          # default: the plan's name
///   exclude: [".minio.sys/tmp/**"]
///   mode: incremental               # default: full (one tar per set)
/// ```
///
/// `mode: incremental` makes each set an index of every path plus the packs that hold content, reading
/// only files whose size, mtime, ctime or inode changed since the previous set (docs/incremental-sets.md).
public struct DirectorySource: BackupSource {
    public struct Configuration: Sendable, Hashable, Codable {
        /// The directory to back up. Relative paths are relative to the plan file.
        public var path: String
        /// The artifact name's subject; nil uses the plan's name.
        public var subject: String?
        /// Patterns of paths to leave out, relative to `path` (see ``GlobPattern``).
        public var exclude: [String]
        /// `full` (a tar of the whole tree in every set) or `incremental`.
        public var mode: BackupMode

        public init(path: String, subject: String? = nil, exclude: [String] = [], mode: BackupMode = .full) {
            self.path = path
            self.subject = subject
            self.exclude = exclude
            self.mode = mode
        }

        enum CodingKeys: String, CodingKey, CaseIterable {
            case path, subject, exclude, mode
        }

        public init(from decoder: any Decoder) throws {
            let container = try decoder.strictContainer(keyedBy: CodingKeys.self, alsoAllowed: PlanKeys.source)
            path = try container.decode(String.self, forKey: .path)
            subject = try container.decodeIfPresent(String.self, forKey: .subject)
            exclude = try container.decodeIfPresent([String].self, forKey: .exclude) ?? []
            mode = try container.decodeIfPresent(BackupMode.self, forKey: .mode) ?? .full
        }
    }

    public let name: String
    public let configuration: Configuration
    /// The plan file's `type:` for this source.
    public static let typeName = "directory"
    public var type: String { Self.typeName }

    public init(name: String, configuration: Configuration) {
        self.name = name
        self.configuration = configuration
    }

    public func prepare(_ context: SourceContext) async throws -> [SourceArtifact] {
        var info = stat()
        guard stat(configuration.path, &info) == 0 else {
            throw BackupError(.sourceFailed, "source '\(name)': \(configuration.path) cannot be read (\(String(cString: strerror(errno)))). Check 'path' in the plan and that the volume is mounted.")
        }
        guard (info.st_mode & S_IFMT) == S_IFDIR else {
            throw BackupError(.sourceFailed, "source '\(name)': \(configuration.path) is not a directory; use a 'files' source for single files")
        }
        guard access(configuration.path, R_OK | X_OK) == 0 else {
            throw BackupError(.sourceFailed, "source '\(name)': \(configuration.path) is not readable by this user. Run backupctl as a user that can read it.")
        }
        let subject = configuration.subject ?? context.planName
        if configuration.mode == .incremental { return [.incrementalIndex(subject: subject)] }
        return [SourceArtifact(subject: subject, content: .tree)]
    }

    public func write(_ artifact: SourceArtifact, to archive: any ArchiveWriter, context: SourceContext) throws -> SourceReport {
        if artifact.isIncrementalIndex {
            guard let session = context.incremental else {
                throw BackupError(.sourceFailed, "source '\(name)': an incremental set is written by the runner, which gives the source its session")
            }
            return try IncrementalDirectoryBackup(session: session, context: context)
                .backUp(directory: configuration.path, exclude: configuration.exclude.map(GlobPattern.init), into: archive)
        }
        let archiver = TreeArchiver(archive: archive, context: context)
        try archiver.addContents(of: configuration.path, exclude: configuration.exclude.map(GlobPattern.init))
        return SourceReport()
    }

    public func restore(_ request: RestoreRequest, from archive: any ArchiveReader, context: SourceContext) throws -> RestoreReport {
        try TreeRestore.restore(request, from: archive, context: context)
    }

    /// The directory it was backed up from.
    public func defaultRestoreDestination(for artifact: ManifestArtifact) -> RestoreDestination? {
        .directory(configuration.path)
    }
}
