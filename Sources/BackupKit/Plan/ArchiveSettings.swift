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
        guard let canonical = formats.canonicalName(name), formats.entries[canonical]?.format.layout == .tree else {
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

/// The plan's `verify:` section: what an artifact must satisfy besides reading back intact.
public struct VerificationPolicy: Sendable, Hashable, Codable {
    /// The smallest acceptable artifact; an empty artifact always fails.
    public var minSize: ByteSize
    /// The most an artifact may shrink against the same source in the previous good set, in percent.
    /// 100 turns the check off.
    public var maxShrinkPercent: Double
    /// Run every source's restore drill (a database restored into a scratch database and checked) as
    /// part of every run's verification.
    public var restoreTest: Bool

    public init(minSize: ByteSize = ByteSize(0), maxShrinkPercent: Double = 90, restoreTest: Bool = false) {
        self.minSize = minSize
        self.maxShrinkPercent = maxShrinkPercent
        self.restoreTest = restoreTest
    }

    enum CodingKeys: String, CodingKey, CaseIterable {
        case minSize = "min_size"
        case maxShrinkPercent = "max_shrink_percent"
        case restoreTest = "restore_test"
    }

    public init(from decoder: any Decoder) throws {
        let container = try decoder.strictContainer(keyedBy: CodingKeys.self)
        let defaults = VerificationPolicy()
        minSize = try container.decodeIfPresent(ByteSize.self, forKey: .minSize) ?? defaults.minSize
        maxShrinkPercent = try container.decodeIfPresent(Double.self, forKey: .maxShrinkPercent) ?? defaults.maxShrinkPercent
        restoreTest = try container.decodeIfPresent(Bool.self, forKey: .restoreTest) ?? defaults.restoreTest
        guard (0...100).contains(maxShrinkPercent) else {
            throw invalidValue(.maxShrinkPercent, in: container, "must be between 0 and 100 (100 turns the check off)")
        }
    }
}

/// The plan's `retention:` section: grandfather-father-son over complete, verified sets, per sink.
/// Each rule counts sets, not calendar days, so a run after a long pause does not wipe the history.
public struct RetentionPolicy: Sendable, Hashable, Codable {
    public var keepLast: Int?
    public var keepDaily: Int?
    public var keepWeekly: Int?
    public var keepMonthly: Int?
    public var keepYearly: Int?
    /// How many tagged sets (`run --tag`) to keep; GFS rules leave tagged sets alone. Nil keeps them all.
    public var keepTagged: Int?

    public init(keepLast: Int? = nil, keepDaily: Int? = nil, keepWeekly: Int? = nil, keepMonthly: Int? = nil, keepYearly: Int? = nil, keepTagged: Int? = nil) {
        self.keepLast = keepLast
        self.keepDaily = keepDaily
        self.keepWeekly = keepWeekly
        self.keepMonthly = keepMonthly
        self.keepYearly = keepYearly
        self.keepTagged = keepTagged
    }

    /// The design document's default: seven daily sets, or `BACKUP_RETENTION_DAYS`.
    public static let standard = RetentionPolicy(keepDaily: 7)

    enum CodingKeys: String, CodingKey, CaseIterable {
        case keepLast = "keep_last"
        case keepDaily = "keep_daily"
        case keepWeekly = "keep_weekly"
        case keepMonthly = "keep_monthly"
        case keepYearly = "keep_yearly"
        case keepTagged = "keep_tagged"
    }

    public init(from decoder: any Decoder) throws {
        let container = try decoder.strictContainer(keyedBy: CodingKeys.self)
        for key in CodingKeys.allCases {
            if let value = try container.decodeIfPresent(Int.self, forKey: key), value < 0 {
                throw invalidValue(key, in: container, "must be 0 or more")
            }
        }
        keepLast = try container.decodeIfPresent(Int.self, forKey: .keepLast)
        keepDaily = try container.decodeIfPresent(Int.self, forKey: .keepDaily)
        keepWeekly = try container.decodeIfPresent(Int.self, forKey: .keepWeekly)
        keepMonthly = try container.decodeIfPresent(Int.self, forKey: .keepMonthly)
        keepYearly = try container.decodeIfPresent(Int.self, forKey: .keepYearly)
        keepTagged = try container.decodeIfPresent(Int.self, forKey: .keepTagged)
    }
}
