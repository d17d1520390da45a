/// What a component factory knows besides its own keys.
public struct ComponentDefinition: Sendable {
    public var name: String
    public var type: String
    /// The plan file's directory; relative paths in the plan are relative to it.
    public var baseDirectory: String
    public var environment: [String: String]

    public init(name: String, type: String, baseDirectory: String, environment: [String: String]) {
        self.name = name
        self.type = type
        self.baseDirectory = baseDirectory
        self.environment = environment
    }

    /// Makes a path from the plan absolute, relative to the plan file's directory.
    public func resolvePath(_ path: String) -> String { BackupKit.resolvePath(path, against: baseDirectory) }
}
