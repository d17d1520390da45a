import BackupKit
import BackupTransport
import Foundation

extension PlanRegistry {
    /// Registers the `directory`, `files`, `postgres` and `s3-bucket` source types, and the environment variables that define
    /// them when there is no plan file:
    /// - `BACKUP_SOURCE_DIRS`: comma-separated directories, each `name:subject=path`, `name=path` or just
    ///   `path` (the name is then the directory's base name), such as `minio:schedgen-pdfs=/srv/minio/data`;
    /// - `BACKUP_CONFIG_FILES`: comma-separated files and globs, backed up as the source `config`;
    /// - `BACKUP_SOURCE_BUCKETS`: comma-separated buckets, `name=bucket` or `bucket` (a single plain one is
    ///   the source `minio`), read from the server `BACKUP_SOURCE_S3_*` describes, with the keys
    ///   `MINIO_ROOT_USER` / `MINIO_ROOT_PASSWORD` when it names none.
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
        addEnvironmentContribution(to: "sources", reading: ["BACKUP_SOURCE_DIRS"]) { environment in
            var sources: [JSONValue] = []
            for item in splitList(environment["BACKUP_SOURCE_DIRS"]) {
                let (name, subject, path) = try namedItem(item, variable: "BACKUP_SOURCE_DIRS")
                var source: [String: JSONValue] = ["name": .string(name), "type": .string(DirectorySource.typeName), "path": .string(path)]
                if let subject { source["subject"] = .string(subject) }
                sources.append(.object(source))
            }
            return sources
        }
        addEnvironmentContribution(to: "sources", reading: ["BACKUP_CONFIG_FILES"]) { environment in
            let files = splitList(environment["BACKUP_CONFIG_FILES"])
            guard !files.isEmpty else { return [] }
            return [.object(["name": .string("config"), "type": .string(FilesSource.typeName), "paths": .array(files.map { .string($0) })])]
        }
        addEnvironmentContribution(to: "sources", reading: ["BACKUP_SOURCE_BUCKETS"] + S3Settings.environmentVariables(prefix: S3BucketSource.environmentPrefix)
                                        + ["MINIO_ROOT_USER", "MINIO_ROOT_PASSWORD"]) { environment in
            let buckets = splitList(environment["BACKUP_SOURCE_BUCKETS"])
            guard !buckets.isEmpty else { return [] }
            var sources: [JSONValue] = []
            for item in buckets {
                let (name, subject, bucket) = try namedItem(item.contains("=") || buckets.count > 1 ? item : "minio=\(item)", variable: "BACKUP_SOURCE_BUCKETS")
                if subject != nil {
                    throw BackupError(.invalidPlan, "BACKUP_SOURCE_BUCKETS: '\(item)': a bucket's artifacts are named after the bucket; write name=bucket, such as minio=schedgen-pdfs")
                }
                var source = try S3Settings.environmentEntry(prefix: S3BucketSource.environmentPrefix, environment: environment, bucket: bucket)
                if source["access_key"] == nil, let user = environment["MINIO_ROOT_USER"], let password = environment["MINIO_ROOT_PASSWORD"],
                   !user.isEmpty, !password.isEmpty {
                    source["access_key"] = .string(user)
                    source["secret_key"] = .string(password)
                }
                source["name"] = .string(name)
                source["type"] = .string(S3BucketSource.typeName)
                sources.append(.object(source))
            }
            return sources
        }
    }
}

/// An item of a list variable: `name:subject=value`, `name=value` or `value` (named after the value's
/// last path component).
func namedItem(_ item: String, variable: String) throws -> (name: String, subject: String?, value: String) {
    guard let equals = item.firstIndex(of: "=") else {
        let base = item.split(separator: "/").last.map(String.init) ?? "data"
        return (ArtifactName.sanitizedSubject(base).replacingOccurrences(of: "_", with: "-"), nil, item)
    }
    let label = item[..<equals]
    let value = String(item[item.index(after: equals)...])
    let parts = label.split(separator: ":", maxSplits: 1, omittingEmptySubsequences: false).map(String.init)
    guard let name = parts.first, !name.isEmpty, !value.isEmpty, parts.count == 1 || !parts[1].isEmpty else {
        throw BackupError(.invalidPlan, "\(variable): '\(item)' is not 'name=value' or 'name:subject=value' (such as minio:schedgen-pdfs=/srv/minio/data)")
    }
    return (name, parts.count == 2 ? parts[1] : nil, value)
}

func splitList(_ value: String?) -> [String] {
    (value ?? "").split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) }.filter { !$0.isEmpty }
}
