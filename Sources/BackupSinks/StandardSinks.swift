import BackupKit

extension PlanRegistry {
    /// Registers the `local` sink type, and `BACKUP_DIR` (default `./backups`) for plans built from the
    /// environment.
    public mutating func registerStandardSinks() {
        registerSink(type: "local") { definition, decoder in
            let configuration = try LocalSink.Configuration(from: decoder)
            return LocalSink(name: definition.name, directory: definition.resolvePath(configuration.path))
        }
        addEnvironmentContribution { environment in
            let path = environment["BACKUP_DIR"].flatMap { $0.isEmpty ? nil : $0 } ?? "./backups"
            return ["sinks": [.object(["name": .string("local"), "type": .string("local"), "path": .string(path)])]]
        }
    }
}
