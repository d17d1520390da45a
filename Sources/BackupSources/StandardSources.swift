import BackupKit
import Foundation

extension PlanRegistry {
    /// Registers the `directory`, `files`, `postgres` and `s3-bucket` source types, and the environment variables that define
    /// them when there is no plan file:
    /// - `BACKUP_SOURCE_DIRS`: comma-separated directories, each `name=path` or just `path` (the name is
    ///   then the directory's base name), such as `minio=/srv/minio/data`;
    /// - `BACKUP_CONFIG_FILES`: comma-separated files and globs, backed up as the source `config`.
    public mutating func registerStandardSources() {
        registerPostgresSource()
        registerS3BucketSource()
        registerSource(type: DirectorySource.typeName) { definition, decoder in
            var configuration = try DirectorySource.Configuration(from: decoder)
            configuration.path = definition.resolvePath(configuration.path)
            return DirectorySource(name: definition.name, configuration: configuration)
        }
        registerSource(type: FilesSource.typeName) { definition, decoder in
            var configuration = try FilesSource.Configuration(from: decoder)
            configuration.paths = configuration.paths.map(definition.resolvePath)
            return FilesSource(name: definition.name, configuration: configuration)
        }
        addEnvironmentContribution { environment in
            var sources: [JSONValue] = []
            for item in splitList(environment["BACKUP_SOURCE_DIRS"]) {
                let (name, path): (String, String)
                if let equals = item.firstIndex(of: "=") {
                    (name, path) = (String(item[..<equals]), String(item[item.index(after: equals)...]))
                } else {
                    let base = item.split(separator: "/").last.map(String.init) ?? "data"
                    (name, path) = (ArtifactName.sanitizedSubject(base).replacingOccurrences(of: "_", with: "-"), item)
                }
                sources.append(.object(["name": .string(name), "type": .string(DirectorySource.typeName), "path": .string(path)]))
            }
            let files = splitList(environment["BACKUP_CONFIG_FILES"])
            if !files.isEmpty {
                sources.append(.object(["name": .string("config"), "type": .string(FilesSource.typeName), "paths": .array(files.map { .string($0) })]))
            }
            return sources.isEmpty ? [:] : ["sources": sources]
        }
    }
}

func splitList(_ value: String?) -> [String] {
    (value ?? "").split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) }.filter { !$0.isEmpty }
}
