/// The archive formats a plan can name, by the names plan files and manifests use: the one table that
/// decodes `archive: { format: ... }`, picks each artifact's format, and reads artifacts back.
///
/// A tree format (tar) may name the stream format that SQL dumps and other stream sources get when the
/// plan names the tree format: `tar.gz` pairs with `gz`, so a plan's `format: tar.gz` gives
/// `db_app_20241130_020000.sql.gz`.
public struct ArchiveFormatTable: Sendable {
    public struct Entry: Sendable {
        public var format: any ArchiveFormat
        /// For a tree format: the name of the stream format stream sources get instead.
        public var streamFormat: String?
    }

    public private(set) var entries: [String: Entry] = [:]
    private var aliases: [String: String] = [:]

    /// An empty table; ``standard`` holds BackupKit's own formats.
    public init() {}

    /// tar, tar.gz (also `tgz`), tar.zst, and the stream formats gz, zst and raw.
    public static let standard: ArchiveFormatTable = {
        var table = ArchiveFormatTable()
        table.register(StreamFormat(compression: .gzip))
        table.register(StreamFormat(compression: .zstd))
        table.register(StreamFormat(compression: .none))
        table.register(TarFormat(compression: .gzip), aliases: ["tgz"], streamFormat: "gz")
        table.register(TarFormat(compression: .zstd), streamFormat: "zst")
        table.register(TarFormat(compression: .none), streamFormat: "raw")
        return table
    }()

    /// Adds `format` under its own ``ArchiveFormat/name`` (and `aliases`), replacing a format of that name.
    public mutating func register(_ format: any ArchiveFormat, aliases: [String] = [], streamFormat: String? = nil) {
        entries[format.name] = Entry(format: format, streamFormat: streamFormat)
        for alias in aliases { self.aliases[alias] = format.name }
    }

    /// The canonical name for `name`, which may be an alias.
    public func canonicalName(_ name: String) -> String? {
        let canonical = entries[name] == nil ? aliases[name] ?? name : name
        return entries[canonical] == nil ? nil : canonical
    }

    /// The tree format a plan means by `name`: the format itself, or for a stream format's name (`gz`,
    /// `zst`) the tree format that pairs with it, as plans have always been allowed to say.
    func planFormatName(_ name: String) -> String? {
        guard let canonical = canonicalName(name), let entry = entries[canonical] else { return nil }
        if entry.format.layout == .tree { return canonical }
        return entries.filter { $0.value.format.layout == .tree && $0.value.streamFormat == canonical }.keys.sorted().first
    }

    /// The format a manifest names, with its default options.
    public func format(named name: String) -> (any ArchiveFormat)? {
        canonicalName(name).flatMap { entries[$0]?.format }
    }

    /// The names a plan may give, for messages.
    var planNames: [String] {
        entries.filter { $0.value.format.layout == .tree }.keys.sorted()
    }

    /// The format for an artifact of `layout` when the plan names `name`: the named format itself for a
    /// tree, its stream format for a stream.
    func format(forPlanFormat name: String, layout: ArchiveLayout) throws -> any ArchiveFormat {
        guard let canonical = canonicalName(name), let entry = entries[canonical] else {
            throw BackupError(.invalidPlan, "unknown archive format '\(name)'; use one of \(planNames.joined(separator: ", "))")
        }
        if entry.format.layout == layout { return entry.format }
        guard layout == .stream, let streamName = entry.streamFormat, let stream = format(named: streamName) else {
            throw BackupError(.invalidPlan, "the archive format '\(name)' holds \(entry.format.layout == .tree ? "trees of files" : "one stream"), and names no format for \(layout == .tree ? "trees of files" : "streams such as SQL dumps"); give such sources an archive format of their own")
        }
        return stream
    }
}
