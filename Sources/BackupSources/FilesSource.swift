import BackupKit
import Glibc

/// Backs up a list of files and globs, such as `.env`, `docker-compose.yml` or `nginx/*.conf`, as one
/// tar archive. Each file is stored under its absolute path without the leading `/`, as GNU tar does,
/// so a restore to `--to DIR` recreates `DIR/srv/schedgen/.env`. A directory in the list is stored
/// whole. A path that does not exist, or a glob that matches nothing, is an error: a typo must not
/// silently leave a file out of every backup.
///
/// ```yaml
/// - name: config
///   type: files
///   paths: [/srv/schedgen/.env, /srv/schedgen/docker-compose.yml, "nginx/*.conf"]
/// ```
public struct FilesSource: BackupSource {
    public struct Configuration: Sendable, Hashable, Codable {
        /// Absolute paths and globs (`*`, `?`, `[...]`), already resolved against the plan's directory.
        public var paths: [String]
        public var subject: String?

        public init(paths: [String], subject: String? = nil) {
            self.paths = paths
            self.subject = subject
        }

        enum CodingKeys: String, CodingKey, CaseIterable {
            case paths, subject
        }

        public init(from decoder: any Decoder) throws {
            let container = try decoder.strictContainer(keyedBy: CodingKeys.self, alsoAllowed: PlanKeys.source)
            paths = try container.decode([String].self, forKey: .paths)
            if paths.isEmpty {
                throw invalidValue(.paths, in: container, "list at least one file or glob")
            }
            subject = try container.decodeIfPresent(String.self, forKey: .subject)
        }
    }

    public let name: String
    public let configuration: Configuration
    /// The plan file's `type:` for this source.
    public static let typeName = "files"
    public var type: String { Self.typeName }

    public init(name: String, configuration: Configuration) {
        self.name = name
        self.configuration = configuration
    }

    public func prepare(_ context: SourceContext) async throws -> [SourceArtifact] {
        _ = try expandedPaths()
        return [SourceArtifact(subject: configuration.subject ?? context.planName, content: .tree)]
    }

    public func write(_ artifact: SourceArtifact, to archive: any ArchiveWriter, context: SourceContext) throws -> SourceReport {
        let archiver = TreeArchiver(archive: archive, context: context)
        for path in try expandedPaths() {
            try archiver.add(path: path, archivePath: RawPath(bytes: Array(path.bytes.drop { $0 == UInt8(ascii: "/") })))
        }
        return SourceReport()
    }

    public func restore(_ request: RestoreRequest, from archive: any ArchiveReader, context: SourceContext) throws -> RestoreReport {
        try TreeRestore.restore(request, from: archive, context: context)
    }

    /// The files' own places: they are stored under their absolute paths, so `/` puts each back where
    /// it was (an existing file is replaced only with --force).
    public func defaultRestoreDestination(for artifact: ManifestArtifact) -> RestoreDestination? {
        .directory("/")
    }

    /// Every file the list names, globs expanded, in order, each once. Paths are bytes: a glob can
    /// match a name that is not UTF-8.
    func expandedPaths() throws -> [RawPath] {
        var result: [RawPath] = []
        var seen = Set<RawPath>()
        for pattern in configuration.paths {
            let matches: [RawPath]
            if pattern.contains(where: { "*?[".contains($0) }) {
                matches = try expandGlob(pattern)
                if matches.isEmpty {
                    throw BackupError(.sourceFailed, "source '\(name)': the glob \(pattern) matches no file. Fix the pattern or remove it from 'paths'.")
                }
            } else {
                var info = stat()
                guard lstat(pattern, &info) == 0 else {
                    throw BackupError(.sourceFailed, "source '\(name)': \(pattern) cannot be read (\(String(cString: strerror(errno)))). Fix the path or remove it from 'paths'.")
                }
                matches = [RawPath(pattern)]
            }
            for path in matches where seen.insert(path).inserted { result.append(path) }
        }
        return result
    }

    private func expandGlob(_ pattern: String) throws -> [RawPath] {
        var results = glob_t()
        defer { globfree(&results) }
        let status = glob(pattern, GLOB_ERR, nil, &results)
        if status == GLOB_NOMATCH { return [] }
        guard status == 0 else {
            throw BackupError(.sourceFailed, "source '\(name)': cannot expand \(pattern) (a directory on the way is unreadable)")
        }
        return (0..<Int(results.gl_pathc)).compactMap { results.gl_pathv[$0].map { RawPath(cString: $0) } }
    }
}
