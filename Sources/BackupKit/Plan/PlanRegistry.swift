/// Maps a plan file's `type:` to the code that builds the component, so that plan files can name your
/// own sinks, sources and notifiers too. Pass it to ``PlanLoader`` explicitly; there is no global one.
///
/// ```swift
/// var registry = PlanRegistry()
/// registry.registerStandardSources()      // BackupSources
/// registry.registerStandardSinks()        // BackupSinks
/// registry.registerFormat(MyFormat())      // archive: { format: my-format }
/// registry.registerSink(type: "my-nas") { definition, decoder in
///     try MyNASSink(name: definition.name, configuration: .init(from: decoder))
/// }
/// ```
public struct PlanRegistry: Sendable {
    public typealias SourceFactory = @Sendable (ComponentDefinition, any Decoder) throws -> any BackupSource
    public typealias SinkFactory = @Sendable (ComponentDefinition, any Decoder) throws -> any Sink
    public typealias NotifierFactory = @Sendable (ComponentDefinition, any Decoder) throws -> any Notifier
    /// Turns environment variables into entries of one plan section (`sources`, `sinks` or `notify`),
    /// written as they would be in a plan file, for plans without a file. With a plan file, `notify`
    /// entries are added to the plan's own (see ``PlanLoader``); the others are not used.
    public typealias EnvironmentContribution = @Sendable ([String: String]) throws -> [JSONValue]
    /// Builds the notifier that fetches the plan's `heartbeat_url` as runs start and end, with the pings
    /// its `heartbeat:` section asks for.
    public typealias HeartbeatFactory = @Sendable (Secret, HeartbeatPings) -> any Notifier

    public private(set) var sources: [String: SourceFactory] = [:]
    public private(set) var sinks: [String: SinkFactory] = [:]
    public private(set) var notifiers: [String: NotifierFactory] = [:]
    public private(set) var environmentContributors: [EnvironmentContributor] = []
    public private(set) var heartbeat: HeartbeatFactory?
    /// The archive formats plans may name; BackupKit's own (``ArchiveFormatTable/standard``) to begin with.
    public private(set) var formats: ArchiveFormatTable = .standard

    public init() {}

    /// Makes `format` usable as `archive: { format: NAME }` (its ``ArchiveFormat/name``) and readable
    /// in manifests. A tree format names the stream format that stream sources get with it.
    public mutating func registerFormat(_ format: any ArchiveFormat, aliases: [String] = [], streamFormat: String? = nil) {
        formats.register(format, aliases: aliases, streamFormat: streamFormat)
    }

    public mutating func registerSource(type: String, _ factory: @escaping SourceFactory) { sources[type] = factory }
    public mutating func registerSink(type: String, _ factory: @escaping SinkFactory) { sinks[type] = factory }
    public mutating func registerNotifier(type: String, _ factory: @escaping NotifierFactory) { notifiers[type] = factory }
    public mutating func registerHeartbeat(_ factory: @escaping HeartbeatFactory) { heartbeat = factory }
    /// Adds entries of `section` built from environment variables. `variables` names the variables the
    /// contribution reads, so that `config check` can say where each entry came from; the first of them
    /// is the one that turns the entries on.
    public mutating func addEnvironmentContribution(to section: String, reading variables: [String],
                                                    _ contribution: @escaping EnvironmentContribution) {
        environmentContributors.append(EnvironmentContributor(section: section, variables: variables, contribute: contribution))
    }
}

/// Plan entries from environment variables, and the variables they come from.
public struct EnvironmentContributor: Sendable {
    /// `sources`, `sinks` or `notify`.
    public var section: String
    /// The variables read, the deciding one first (`BACKUP_ALERT_WEBHOOK_URL`, then its secret...).
    public var variables: [String]
    public var contribute: PlanRegistry.EnvironmentContribution

    public init(section: String, variables: [String], contribute: @escaping PlanRegistry.EnvironmentContribution) {
        self.section = section
        self.variables = variables
        self.contribute = contribute
    }
}
