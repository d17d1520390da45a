/// What a plan's `archive:` section says besides the format's name.
public struct ArchiveOptions: Sendable, Hashable {
    /// The compression level; nil means the format's default.
    public var level: Int?
    /// Compression threads.
    public var threads: Int

    public init(level: Int? = nil, threads: Int = availableProcessors()) {
        self.level = level
        self.threads = threads
    }
}
