import BackupKit
import BackupTransport
import Foundation

extension PlanRegistry {
    /// Registers the `local`, `s3` and `sftp` sink types (SFTP inside a ``RetryingSink``), and `BACKUP_DIR`
    /// (default `./backups`) for plans built from the environment.
    public mutating func registerStandardSinks() {
        registerSink(type: S3Sink.typeName) { definition, decoder in
            S3Sink(name: definition.name, settings: try S3Settings(from: decoder, forUploads: true, alsoAllowed: PlanKeys.sink,
                                                                    baseDirectory: definition.baseDirectory),
                   environment: definition.environment)
        }
        registerSink(type: SFTPSink.typeName) { definition, decoder in
            // SFTP transfers break like any network transfer; the retrying wrapper tries them again.
            RetryingSink(SFTPSink(name: definition.name, configuration: try SFTPSink.Configuration(from: decoder, baseDirectory: definition.baseDirectory)))
        }
        registerSink(type: LocalSink.typeName) { definition, decoder in
            let configuration = try LocalSink.Configuration(from: decoder)
            let directory = definition.resolvePath(configuration.path)
            var isDirectory: ObjCBool = false
            if FileManager.default.fileExists(atPath: directory, isDirectory: &isDirectory), !isDirectory.boolValue {
                throw DecodingError.dataCorrupted(.init(codingPath: decoder.codingPath + [AnyCodingKey("path")],
                                                        debugDescription: "\(directory) is a file, not a directory; give a directory for the backups"))
            }
            return LocalSink(name: definition.name, directory: directory)
        }
        addEnvironmentContribution { environment in
            let path = environment["BACKUP_DIR"].flatMap { $0.isEmpty ? nil : $0 } ?? "./backups"
            return ["sinks": [.object(["name": .string("local"), "type": .string(LocalSink.typeName), "path": .string(path)])]]
        }
    }
}
