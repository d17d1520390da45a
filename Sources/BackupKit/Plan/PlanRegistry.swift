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
    /// Turns environment variables into plan entries when there is no plan file: returns entries for the
    /// sections `sources`, `sinks` and `notify`, written as they would be in a plan file.
    public typealias EnvironmentContribution = @Sendable ([String: String]) throws -> [String: [JSONValue]]
    /// Builds the notifier that fetches the plan's `heartbeat_url` as runs start and end, with the pings
    /// its `heartbeat:` section asks for.
    public typealias HeartbeatFactory = @Sendable (Secret, HeartbeatPings) -> any Notifier

    public private(set) var sources: [String: SourceFactory] = [:]
    public private(set) var sinks: [String: SinkFactory] = [:]
    public private(set) var notifiers: [String: NotifierFactory] = [:]
    public private(set) var environmentContributions: [EnvironmentContribution] = []
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
    public mutating func addEnvironmentContribution(_ contribution: @escaping EnvironmentContribution) {
        environmentContributions.append(contribution)
    }
}
