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
/// ```
public struct DirectorySource: BackupSource {
    public struct Configuration: Sendable, Hashable, Codable {
        /// The directory to back up. Relative paths are relative to the plan file.
        public var path: String
        /// The artifact name's subject; nil uses the plan's name.
        public var subject: String?
        /// Patterns of paths to leave out, relative to `path` (see ``GlobPattern``).
        public var exclude: [String]

        public init(path: String, subject: String? = nil, exclude: [String] = []) {
            self.path = path
            self.subject = subject
            self.exclude = exclude
        }

        enum CodingKeys: String, CodingKey, CaseIterable {
            case path, subject, exclude
        }

        public init(from decoder: any Decoder) throws {
            let container = try decoder.strictContainer(keyedBy: CodingKeys.self, alsoAllowed: PlanKeys.source)
            path = try container.decode(String.self, forKey: .path)
            subject = try container.decodeIfPresent(String.self, forKey: .subject)
            exclude = try container.decodeIfPresent([String].self, forKey: .exclude) ?? []
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
        return [SourceArtifact(subject: configuration.subject ?? context.planName, content: .tree)]
    }

    public func write(_ artifact: SourceArtifact, to archive: any ArchiveWriter, context: SourceContext) throws -> SourceReport {
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
