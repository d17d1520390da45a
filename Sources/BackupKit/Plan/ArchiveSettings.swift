/// How artifacts are written: the plan's `archive:` section, such as `{ format: tar.gz, level: 6 }`.
/// Tree sources get the format named; stream sources (SQL dumps) get that format's stream format
/// (``ArchiveFormatTable``), so `tar.gz` gives `.sql.gz` and `tar.zst` gives `.sql.zst`.
public struct ArchiveSettings: Sendable, Hashable, Codable {
    /// The name of a format in the plan's ``ArchiveFormatTable``, such as `tar.gz`.
    public var format: String
    /// Nil means the format's default: 6 for gzip, 3 for zstd.
    public var level: Int?
    /// Compression threads; nil means one per core.
    public var threads: Int?

    public init(format: String = "tar.gz", level: Int? = nil, threads: Int? = nil) {
        self.format = format
        self.level = level
        self.threads = threads
    }

    /// The tar format with `compression`.
    public init(compression: Compression, level: Int? = nil, threads: Int? = nil) {
        self.init(format: TarFormat(compression: compression).name, level: level, threads: threads)
    }

    enum CodingKeys: String, CodingKey, CaseIterable {
        case format, level, threads
    }

    public init(from decoder: any Decoder) throws {
        let formats = (try? PlanDecodingContext.from(decoder))?.registry.formats ?? .standard
        let container = try decoder.strictContainer(keyedBy: CodingKeys.self)
        let name = try container.decodeIfPresent(String.self, forKey: .format) ?? "tar.gz"
        guard let canonical = formats.planFormatName(name) else {
            throw invalidValue(.format, in: container, "unknown format '\(name)'; use \(formats.planNames.joined(separator: ", "))")
        }
        format = canonical
        level = try container.decodeIfPresent(Int.self, forKey: .level)
        threads = try container.decodeIfPresent(Int.self, forKey: .threads)
        if let threads, threads < 1 {
            throw invalidValue(.threads, in: container, "threads must be at least 1")
        }
        do {
            _ = try formats.format(forPlanFormat: format, layout: .tree).configured(options)
        } catch let error as BackupError {
            throw invalidValue(.level, in: container, error.message)
        }
    }

    public func encode(to encoder: any Encoder) throws {
        var container = encoder.container(keyedBy: CodingKeys.self)
        try container.encode(format, forKey: .format)
        try container.encodeIfPresent(level, forKey: .level)
        try container.encodeIfPresent(threads, forKey: .threads)
    }

    var options: ArchiveOptions { ArchiveOptions(level: level, threads: threads ?? availableProcessors()) }

    /// The format for an artifact: its content's layout, and its own compression if it insists on one
    /// (the plan's level applies only when that is the plan's own format).
    public func format(for artifact: SourceArtifact, in formats: ArchiveFormatTable) throws -> any ArchiveFormat {
        let layout: ArchiveLayout = switch artifact.content {
        case .tree: .tree
        case .stream: .stream
        }
        let planned = try formats.format(forPlanFormat: format, layout: layout)
        guard let compression = artifact.compression else { return try planned.configured(options) }
        let name = layout == .tree ? TarFormat(compression: compression).name : StreamFormat(compression: compression).name
        guard let insisted = formats.format(named: name) else {
            throw BackupError(.invalidPlan, "the source needs the archive format '\(name)', which this plan's formats do not have")
        }
        return try insisted.configured(name == planned.name ? options : ArchiveOptions(threads: options.threads))
    }
}
